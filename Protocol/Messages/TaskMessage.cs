namespace Mep.Protocol.Messages;

public enum FunctionKind
{
    Shell,
}

/// <summary>
/// A task as the UEP receives it on its own task queue (AMQP body, JSON; MessageId = task id).
/// The function is carried by value so the UEP never has to call back into the cluster.
/// </summary>
/// <param name="Command">Shell command template with <c>{name}</c> placeholders filled from <see cref="Args"/>.</param>
/// <param name="WalltimeSeconds">Wall-clock limit; past it the task's process group is killed.</param>
/// <param name="OutputLimitBytes">Cap on each of stdout and stderr kept in the result.</param>
public sealed record TaskMessage(
    Guid TaskId,
    Guid FunctionId,
    FunctionKind Kind,
    string Command,
    IReadOnlyDictionary<string, string> Args,
    double WalltimeSeconds,
    int OutputLimitBytes);
