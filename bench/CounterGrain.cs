using Mep.Streams.RabbitMQ;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Mep.Bench;

public static class BenchStreams
{
    public const string Provider = "mep-bench";
    /// <summary>Events sent by external publishers in the wire format (plain JSON bodies).</summary>
    public const string External = "bench.external";
    /// <summary>Events sent by Orleans producers (<c>stream.OnNextAsync</c>).</summary>
    public const string Orleans = "bench.orleans";
}

public interface IStreamCounterGrain : IGrainWithStringKey;

/// <summary>
/// The subscriber: one activation per stream key, implicitly subscribed to both namespaces, counting each event in
/// the process's <see cref="DeliveryCounter"/>. An external event is decoded from its JSON body, as a UEP grain
/// decodes a result, so that it does the same work per event as the raw baseline's consumer.
/// </summary>
[ImplicitStreamSubscription(BenchStreams.External)]
[ImplicitStreamSubscription(BenchStreams.Orleans)]
public sealed class StreamCounterGrain(DeliveryCounter counter) : Grain, IStreamCounterGrain, IStreamSubscriptionObserver
{
    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
    {
        var key = this.GetPrimaryKeyString();
        if (handleFactory.StreamId.GetNamespace() == BenchStreams.External)
        {
            await handleFactory.Create<RabbitMqStreamMessage>().ResumeAsync((m, _) =>
            {
                var e = BenchEvent.Parse(m.Body);
                counter.Record(key, e.Round, e.Sequence);
                return Task.CompletedTask;
            });
            return;
        }
        await handleFactory.Create<BenchEvent>().ResumeAsync((e, _) =>
        {
            counter.Record(key, e.Round, e.Sequence);
            return Task.CompletedTask;
        });
    }
}
