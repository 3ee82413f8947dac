using RabbitMQ.Client;

namespace Mep.Streams.RabbitMQ.Providers;

/// <summary>
/// The provider's broker objects: a durable topic exchange, one durable queue per partition bound with
/// <c>{partition}.#</c> (which matches <c>{partition}</c> and <c>{partition}.anything</c>), and the dead-letter queue.
/// Declarations are idempotent; a queue that exists with other arguments (say, classic where quorum is configured)
/// makes the broker refuse, and the error names the argument.
/// </summary>
internal static class RabbitMqTopology
{
    public static async Task DeclareAsync(IConnection connection, RabbitMqStreamOptions options, CancellationToken ct)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
        await channel.ExchangeDeclareAsync(options.Exchange, ExchangeType.Topic, durable: true, autoDelete: false,
            cancellationToken: ct).ConfigureAwait(false);
        for (var partition = 0; partition < options.PartitionCount; partition++)
        {
            var queue = RabbitMqStreamPartitioner.QueueName(options.Exchange, partition);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                arguments: QueueArguments(options, singleActiveConsumer: true), cancellationToken: ct).ConfigureAwait(false);
            await channel.QueueBindAsync(queue, options.Exchange, $"{partition}.#", cancellationToken: ct).ConfigureAwait(false);
        }
        await channel.QueueDeclareAsync(options.DeadLetterQueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: QueueArguments(options, singleActiveConsumer: false), cancellationToken: ct).ConfigureAwait(false);
    }

    // Single active consumer: while a partition's lease moves between silos, the old and new owner may both be
    // consuming for a moment; the broker then delivers to one of them only, so a stream's order holds.
    private static Dictionary<string, object?> QueueArguments(RabbitMqStreamOptions options, bool singleActiveConsumer)
    {
        var arguments = new Dictionary<string, object?>
        {
            ["x-queue-type"] = options.QueueType == RabbitMqQueueType.Quorum ? "quorum" : "classic",
        };
        if (singleActiveConsumer)
        {
            arguments["x-single-active-consumer"] = true;
        }
        return arguments;
    }
}
