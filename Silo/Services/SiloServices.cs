using Mep.Grains.Broker;
using Mep.Grains.UserEndpoints;

namespace Mep.Silo.Services;

public static class SiloServices
{
    /// <summary>Broker access for grains (must be called before Orleans so topology exists before the silo serves).</summary>
    public static IServiceCollection AddMepBrokerServices(this IServiceCollection services, IConfiguration section)
    {
        services.AddMepBroker(o => section.Bind(o));
        services.AddSingleton<IUserEndpointBroker, UserEndpointBroker>();
        services.AddHostedService<BrokerTopologyInitializer>();
        return services;
    }

    public static IServiceCollection AddMepLauncherServices(this IServiceCollection services)
    {
        services.AddSingleton<IUserEndpointLauncher, UserEndpointLauncher>();
        services.AddSingleton<StartGate>();
        return services;
    }

    /// <summary>
    /// Services that call grains: registered after UseOrleans, so the host starts them once the silo is up.
    /// </summary>
    public static IServiceCollection AddMepGrainCallers(this IServiceCollection services)
    {
        services.AddHostedService<LauncherWatcher>();
        services.AddHostedService<NodeFailureWatcher>();
        return services;
    }
}
