using System.Collections.Concurrent;
using Mep.Streams.RabbitMQ;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Mep.Tests.Streams;

// The subscriber the stream provider tests deliver to: one grain per stream (implicit subscription), which
// records every delivery in a log the test owns (all silos of an in-process cluster share it).

public static class StreamTestNames
{
    public const string Provider = "rmq-test";
    /// <summary>Events published by an Orleans client through the provider.</summary>
    public const string Orleans = "test.orleans";
    /// <summary>Plain AMQP messages published by a process that is not an Orleans client.</summary>
    public const string External = "test.external";
}

[GenerateSerializer, Alias("mep.tests.stream-event")]
public sealed record TestStreamEvent([property: Id(0)] int Sequence, [property: Id(1)] bool Poison = false);

/// <summary>
/// Deliveries per stream. <see cref="Record"/> is also the subscriber's idempotence store (it outlives grain
/// activations, as durable grain state would): a duplicate is counted but not recorded again.
/// </summary>
public sealed class DeliveryLog
{
    private readonly ConcurrentDictionary<string, StreamDeliveries> _streams = new();

    public sealed class StreamDeliveries
    {
        public readonly List<int> FirstDeliveries = [];
        public readonly HashSet<int> Seen = [];
        public int Duplicates;
        public readonly List<string?> Senders = [];
    }

    public void Record(string stream, int sequence, string? sender = null)
    {
        var s = _streams.GetOrAdd(stream, _ => new StreamDeliveries());
        lock (s)
        {
            if (s.Seen.Add(sequence))
            {
                s.FirstDeliveries.Add(sequence);
                s.Senders.Add(sender);
            }
            else
            {
                s.Duplicates++;
            }
        }
    }

    public int Unique => _streams.Values.Sum(s => { lock (s) { return s.Seen.Count; } });

    public int Duplicates => _streams.Values.Sum(s => { lock (s) { return s.Duplicates; } });

    public IReadOnlyList<int> FirstDeliveries(string stream)
    {
        if (!_streams.TryGetValue(stream, out var s))
        {
            return [];
        }
        lock (s)
        {
            return [.. s.FirstDeliveries];
        }
    }

    public IReadOnlyList<string?> Senders(string stream)
    {
        if (!_streams.TryGetValue(stream, out var s))
        {
            return [];
        }
        lock (s)
        {
            return [.. s.Senders];
        }
    }
}

public interface IStreamRecorderGrain : IGrainWithStringKey;

[ImplicitStreamSubscription(StreamTestNames.Orleans)]
[ImplicitStreamSubscription(StreamTestNames.External)]
public sealed class StreamRecorderGrain(DeliveryLog log) : Grain, IStreamRecorderGrain, IStreamSubscriptionObserver
{
    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
    {
        var key = this.GetPrimaryKeyString();
        if (handleFactory.StreamId.GetNamespace() == StreamTestNames.External)
        {
            await handleFactory.Create<RabbitMqStreamMessage>().ResumeAsync((m, _) =>
            {
                log.Record(key, int.Parse(System.Text.Encoding.UTF8.GetString(m.Body)), m.UserId);
                return Task.CompletedTask;
            });
            return;
        }
        await handleFactory.Create<TestStreamEvent>().ResumeAsync((e, _) =>
        {
            if (e.Poison)
            {
                throw new InvalidOperationException($"event {e.Sequence} is poison");
            }
            log.Record(key, e.Sequence);
            return Task.CompletedTask;
        });
    }
}
