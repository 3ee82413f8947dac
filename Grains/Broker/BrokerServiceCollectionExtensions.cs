using Microsoft.Extensions.DependencyInjection;

namespace Mep.Grains.Broker;

public static class BrokerServiceCollectionExtensions
{
    /// <summary>Registers <see cref="BrokerOptions"/>, <see cref="BrokerAdmin"/> (typed HttpClient), the one
    /// <see cref="BrokerConnection"/> and the <see cref="TaskPublisher"/>.</summary>
    public static IServiceCollection AddMepBroker(this IServiceCollection services, Action<BrokerOptions> configure)
    {
        services.Configure(configure);
        services.AddHttpClient<BrokerAdmin>(http => http.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton<BrokerConnection>();
        services.AddSingleton<TaskPublisher>();
        return services;
    }
}
