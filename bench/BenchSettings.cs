using Mep.Streams.RabbitMQ;

namespace Mep.Bench;

/// <summary>Everything one run of the stream benchmark depends on; printed with the results so a figure can be reproduced.</summary>
internal sealed record BenchSettings
{
    public required string Host { get; init; }
    public required int AmqpPort { get; init; }
    public required int ManagementPort { get; init; }
    public required string User { get; init; }
    public required string Password { get; init; }
    /// <summary>Null: a fresh virtual host for this run, deleted at the end.</summary>
    public required string? VirtualHost { get; init; }

    public required int Streams { get; init; }
    public required int EventsPerStream { get; init; }
    public required int MessageSize { get; init; }
    public required int Publishers { get; init; }
    public required int ConfirmBatch { get; init; }
    public required int Rounds { get; init; }
    public required bool Live { get; init; }
    public required bool OrleansProducers { get; init; }
    public required bool Drain { get; init; }
    public required TimeSpan Timeout { get; init; }
    public required string ResultsDirectory { get; init; }

    // The provider's settings under test; the raw baseline uses the same partition count, queue type and prefetch.
    public required int Partitions { get; init; }
    public required RabbitMqQueueType QueueType { get; init; }
    public required ushort Prefetch { get; init; }
    public required TimeSpan PollPeriod { get; init; }
    public required int BatchContainerBatchSize { get; init; }
    public required int CacheSize { get; init; }

    public int EventsPerRound => Streams * EventsPerStream;

    public BrokerAccess Access => new(Host, AmqpPort, ManagementPort, User, Password);

    public IEnumerable<(string Name, string Value)> Describe() =>
    [
        ("broker", $"{Host}:{AmqpPort}"),
        ("streams x events", $"{Streams} x {EventsPerStream} = {EventsPerRound}"),
        ("message size", $"{MessageSize} B (JSON body)"),
        ("publishers", $"{Publishers} connections, confirms awaited per {ConfirmBatch} messages"),
        ("rounds", Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("queues", $"{Partitions} x {QueueType.ToString().ToLowerInvariant()}, durable, persistent messages, single active consumer"),
        ("prefetch", Prefetch.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("pulling agent", $"poll {PollPeriod.TotalMilliseconds:F0} ms, batch container batch size {BatchContainerBatchSize}, cache {CacheSize}"),
    ];
}
