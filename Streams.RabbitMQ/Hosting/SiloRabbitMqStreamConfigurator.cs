using Mep.Streams.RabbitMQ.Leasing;
using Mep.Streams.RabbitMQ.Providers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.LeaseProviders;
using Orleans.Runtime;

namespace Mep.Streams.RabbitMQ.Hosting;

/// <summary>
/// Silo side of a RabbitMQ stream provider: the adapter factory, validated named options, the provider's AMQP
/// connection, and partition balancing by leases (held in <see cref="GrainLeaseProvider"/> unless the host
/// registers its own keyed <see cref="ILeaseProvider"/>), so partitions move to the surviving silos when one dies.
/// </summary>
public sealed class SiloRabbitMqStreamConfigurator : SiloPersistentStreamConfigurator
{
    public SiloRabbitMqStreamConfigurator(string name, Action<Action<IServiceCollection>> configureServicesDelegate)
        : base(name, configureServicesDelegate, RabbitMqAdapterFactory.Create)
    {
        ConfigureDelegate(services =>
        {
            RabbitMqStreamServices.Add(services, name);
            services.TryAddKeyedLeaseProvider(name);
        });
        this.UseLeaseBasedQueueBalancer(ob => ob.Configure(o =>
        {
            // Shorter than Orleans' defaults (one minute leases, 30 s between attempts): a dead silo's partitions
            // are picked up within ~20 s of its death. A renewal or an attempt is one small grain call.
            o.LeaseLength = TimeSpan.FromSeconds(15);
            o.LeaseRenewPeriod = TimeSpan.FromSeconds(5);
            o.LeaseAcquisitionPeriod = TimeSpan.FromSeconds(2);
        }));
    }

    public SiloRabbitMqStreamConfigurator ConfigureRabbitMq(Action<OptionsBuilder<RabbitMqStreamOptions>> configure)
    {
        this.Configure(configure);
        return this;
    }

    public SiloRabbitMqStreamConfigurator ConfigureCache(int cacheSize)
    {
        this.Configure<SimpleQueueCacheOptions>(ob => ob.Configure(o => o.CacheSize = cacheSize));
        return this;
    }

    public SiloRabbitMqStreamConfigurator ConfigureLeases(Action<LeaseBasedQueueBalancerOptions> configure)
    {
        this.Configure<LeaseBasedQueueBalancerOptions>(ob => ob.Configure(configure));
        return this;
    }
}

internal static class RabbitMqStreamServices
{
    public static void Add(IServiceCollection services, string name)
    {
        services.ConfigureNamedOptionForLogging<RabbitMqStreamOptions>(name);
        services.AddTransient<IConfigurationValidator>(sp =>
            new RabbitMqStreamOptionsValidator(sp.GetRequiredService<IOptionsMonitor<RabbitMqStreamOptions>>().Get(name), name));
        // Keyed singleton: the host disposes it on stop, closing the connection and so returning unacked deliveries.
        services.AddKeyedSingleton(name, (sp, _) => new RabbitMqConnectionManager(name,
            sp.GetRequiredService<IOptionsMonitor<RabbitMqStreamOptions>>().Get(name),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<RabbitMqConnectionManager>()));
    }

    public static void TryAddKeyedLeaseProvider(this IServiceCollection services, string name)
    {
        if (!services.Any(d => d.IsKeyedService && Equals(d.ServiceKey, name) && d.ServiceType == typeof(ILeaseProvider)))
        {
            services.AddKeyedSingleton<ILeaseProvider>(name, (sp, _) => new GrainLeaseProvider(sp.GetRequiredService<IGrainFactory>()));
        }
    }
}
