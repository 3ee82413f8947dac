using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace Mep.Streams.RabbitMQ.Hosting;

/// <summary>Client side of a RabbitMQ stream provider: publishing only (receivers run in silos).</summary>
public sealed class ClusterClientRabbitMqStreamConfigurator : ClusterClientPersistentStreamConfigurator
{
    public ClusterClientRabbitMqStreamConfigurator(string name, IClientBuilder builder)
        : base(name, builder, Providers.RabbitMqAdapterFactory.Create)
    {
        builder.ConfigureServices(services => RabbitMqStreamServices.Add(services, name));
    }

    public ClusterClientRabbitMqStreamConfigurator ConfigureRabbitMq(Action<OptionsBuilder<RabbitMqStreamOptions>> configure)
    {
        this.Configure(configure);
        return this;
    }
}
