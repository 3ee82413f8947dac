namespace Mep.Streams.RabbitMQ;

/// <summary>
/// For subscribers that make an event's effects durable in the background (a group commit they do not wait for): the
/// receiver acks delivered events to the broker only after <see cref="WaitAsync"/>, so an event is never forgotten by
/// the broker before what it caused is stored. Register one as a keyed singleton under the provider's name.
/// </summary>
public interface IRabbitMqAckBarrier
{
    /// <summary>Waits until every write started before this call has ended (committed or failed).</summary>
    /// <returns>How many writes have failed so far. When it grew since the receiver's previous call, an effect of an
    /// event not yet acked may be lost: the receiver gives back everything it holds unacked (it drops its channel), and
    /// the broker delivers it again.</returns>
    Task<long> WaitAsync();
}
