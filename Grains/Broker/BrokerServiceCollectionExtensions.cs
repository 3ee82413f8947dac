using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mep.Grains.Broker;

public static class BrokerServiceCollectionExtensions
{
    /// <summary>Registers <see cref="BrokerOptions"/>, <see cref="BrokerAdmin"/> (typed HttpClient), the one
    /// <see cref="BrokerConnection"/> and the <see cref="TaskPublisher"/>.</summary>
    public static IServiceCollection AddMepBroker(this IServiceCollection services, Action<BrokerOptions> configure)
    {
        services.Configure(configure);
        services.AddHttpClient<BrokerAdmin>(http => http.Timeout = TimeSpan.FromSeconds(30))
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<IOptions<BrokerOptions>>().Value.ManagementHandler());
        services.AddOptions<BrokerOptions>().Validate(
            o => o.PlainTextProblem() is null, "Mep:Broker:Tls is false: plain AMQP and http are allowed to a broker on loopback only").ValidateOnStart();
        services.AddSingleton<BrokerConnection>();
        services.AddSingleton<TaskPublisher>();
        return services;
    }
}
