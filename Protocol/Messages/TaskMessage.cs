using System.Text.Json.Nodes;

namespace Mep.Protocol.Messages;

public enum FunctionKind
{
    /// <summary>A command template run with <c>/bin/sh -c</c>, every argument shell-quoted.</summary>
    Shell,

    /// <summary>A Python function (source and entry point) called in a long-lived <c>python3</c> of the worker.</summary>
    Python,
}

/// <summary>
/// A task as a worker receives it on its UEP's task queue (AMQP body, JSON; MessageId = task id).
/// The function is carried by value so that neither the UEP nor its workers ever call back into the cluster.
/// </summary>
/// <param name="Command">Shell: the command template with <c>{name}</c> placeholders filled from <see cref="Args"/>. Python: empty.</param>
/// <param name="Args">Shell: the named arguments. Python: empty (see <see cref="Python"/>).</param>
/// <param name="WalltimeSeconds">Wall-clock limit; past it the task's process group is killed and the task fails.</param>
/// <param name="OutputLimitBytes">Cap on each of stdout and stderr kept in the result.</param>
/// <param name="Python">The call, for a Python function; null for a shell function.</param>
public sealed record TaskMessage(
    Guid TaskId,
    Guid FunctionId,
    FunctionKind Kind,
    string Command,
    IReadOnlyDictionary<string, string> Args,
    double WalltimeSeconds,
    int OutputLimitBytes,
    PythonCall? Python = null);

/// <summary>A call of a Python function: its source defines <see cref="Entry"/>, called as <c>entry(*args, **kwargs)</c>.</summary>
/// <param name="Args">Positional arguments, as JSON values.</param>
/// <param name="Kwargs">Keyword arguments, as JSON values.</param>
public sealed record PythonCall(
    string Source,
    string Entry,
    JsonArray Args,
    JsonObject Kwargs);
