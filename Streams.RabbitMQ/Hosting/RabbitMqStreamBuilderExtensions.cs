using Orleans.Hosting;

namespace Mep.Streams.RabbitMQ.Hosting;

public static class RabbitMqStreamBuilderExtensions
{
    /// <summary>Adds a persistent stream provider named <paramref name="name"/> over RabbitMQ to a silo.</summary>
    public static ISiloBuilder AddRabbitMqStreams(this ISiloBuilder builder, string name, Action<RabbitMqStreamOptions> configureOptions) =>
        builder.AddRabbitMqStreams(name, c => c.ConfigureRabbitMq(ob => ob.Configure(configureOptions)));

    public static ISiloBuilder AddRabbitMqStreams(this ISiloBuilder builder, string name, Action<SiloRabbitMqStreamConfigurator> configure)
    {
        var configurator = new SiloRabbitMqStreamConfigurator(name, d => builder.ConfigureServices(d));
        configure(configurator);
        return builder;
    }

    /// <summary>Adds the same provider to a cluster client, for publishing.</summary>
    public static IClientBuilder AddRabbitMqStreams(this IClientBuilder builder, string name, Action<RabbitMqStreamOptions> configureOptions) =>
        builder.AddRabbitMqStreams(name, c => c.ConfigureRabbitMq(ob => ob.Configure(configureOptions)));

    public static IClientBuilder AddRabbitMqStreams(this IClientBuilder builder, string name, Action<ClusterClientRabbitMqStreamConfigurator> configure)
    {
        var configurator = new ClusterClientRabbitMqStreamConfigurator(name, builder);
        configure(configurator);
        return builder;
    }
}

public static class RabbitMqStreamServiceProviderExtensions
{
    /// <summary>
    /// Connects the provider named <paramref name="name"/> now (declaring its exchange and queues) instead of on
    /// first use: for hosts that hand the wire format to external publishers, which need the topology to exist.
    /// Throws <see cref="Providers.RabbitMqUnavailableException"/> if the broker cannot be reached.
    /// </summary>
    public static Task EnsureRabbitMqStreamTopologyAsync(this IServiceProvider services, string name, CancellationToken ct = default) =>
        Microsoft.Extensions.DependencyInjection.ServiceProviderKeyedServiceExtensions
            .GetRequiredKeyedService<Providers.RabbitMqConnectionManager>(services, name)
            .GetConnectionAsync(ct);
}
