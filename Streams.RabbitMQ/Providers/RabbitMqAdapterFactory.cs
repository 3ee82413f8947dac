using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Providers.Streams.Common;
using Orleans.Serialization;
using Orleans.Streams;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// Builds the adapter, queue mapper, cache and failure handler of one named RabbitMQ stream provider. The AMQP
/// connection is a keyed singleton of the host, so it closes with it (a stopped silo lets go of its deliveries).
/// </summary>
public sealed class RabbitMqAdapterFactory : IQueueAdapterFactory
{
    private readonly string _name;
    private readonly RabbitMqConnectionManager _connections;
    private readonly RabbitMqStreamQueueMapper _mapper;
    private readonly IQueueAdapterCache _cache;
    private readonly RabbitMqReceiverRegistry _receivers = new();
    private readonly RabbitMqMessageCodec _codec;
    private readonly ILoggerFactory _loggerFactory;
    private RabbitMqAdapter? _adapter;

    internal RabbitMqAdapterFactory(string name, RabbitMqConnectionManager connections, SimpleQueueCacheOptions cacheOptions,
        Serializer serializer, ILoggerFactory loggerFactory)
    {
        _name = name;
        _connections = connections;
        _loggerFactory = loggerFactory;
        _mapper = new RabbitMqStreamQueueMapper(name, connections.Options.PartitionCount);
        _cache = new SimpleQueueAdapterCache(cacheOptions, name, loggerFactory);
        _codec = new RabbitMqMessageCodec(serializer, connections.Options);
    }

    public static RabbitMqAdapterFactory Create(IServiceProvider services, string name) => new(
        name,
        services.GetRequiredKeyedService<RabbitMqConnectionManager>(name),
        services.GetOptionsByName<SimpleQueueCacheOptions>(name),
        services.GetRequiredService<Serializer>(),
        services.GetRequiredService<ILoggerFactory>());

    public Task<IQueueAdapter> CreateAdapter()
    {
        // One adapter (and one publishing channel) per provider; connecting waits for first use, so a silo can
        // start while the broker is still coming up.
        _adapter ??= new RabbitMqAdapter(_name, _connections,
            new RabbitMqPublisher(_connections, _loggerFactory.CreateLogger<RabbitMqPublisher>()),
            _codec, _receivers, _loggerFactory);
        return Task.FromResult<IQueueAdapter>(_adapter);
    }

    public IQueueAdapterCache GetQueueAdapterCache() => _cache;

    public IStreamQueueMapper GetStreamQueueMapper() => _mapper;

    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) =>
        Task.FromResult<IStreamFailureHandler>(new RabbitMqDeliveryFailureHandler(queueId, _receivers,
            _loggerFactory.CreateLogger<RabbitMqDeliveryFailureHandler>()));
}
