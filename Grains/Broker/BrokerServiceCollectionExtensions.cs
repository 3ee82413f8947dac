using Mep.Protocol.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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

    /// <summary>Runs an <see cref="EndpointEventConsumer"/> as a hosted service with the handler the factory returns.</summary>
    public static IServiceCollection AddEndpointEventConsumer(this IServiceCollection services,
        Func<IServiceProvider, Func<EndpointEvent, CancellationToken, Task>> handlerFactory)
    {
        services.AddSingleton(sp => new EndpointEventConsumer(
            sp.GetRequiredService<BrokerConnection>(),
            sp.GetRequiredService<IOptions<BrokerOptions>>(),
            handlerFactory(sp),
            sp.GetService<ILogger<EndpointEventConsumer>>()));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<EndpointEventConsumer>());
        return services;
    }
}
