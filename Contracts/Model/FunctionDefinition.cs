namespace Mep.Contracts.Model;

// Stored (function grain state, task queues): values are appended, never renumbered.
public enum FunctionKindModel
{
    Shell = 0,
    Python = 1,
}

/// <summary>
/// A registered function: a shell function's command template (and its placeholders), or a Python function's source
/// and entry point; and the default walltime of its tasks. Write-once, so whoever holds the id may rely on it.
/// </summary>
/// <param name="Command">Shell: the template. Python: empty.</param>
/// <param name="Arguments">Shell: the template's placeholders. Python: empty.</param>
/// <param name="Source">Python: the source that defines <paramref name="Entry"/>. Shell: null.</param>
/// <param name="Entry">Python: the name of the function tasks call. Shell: null.</param>
[GenerateSerializer, Immutable, Alias("mep.function-definition")]
public sealed record FunctionDefinition(
    [property: Id(0)] Guid FunctionId,
    [property: Id(1)] string OwnerIdentityId,
    [property: Id(2)] FunctionKindModel Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] string Command,
    [property: Id(5)] IReadOnlyList<string> Arguments,
    [property: Id(6)] double WalltimeSeconds,
    [property: Id(7)] DateTimeOffset RegisteredAt,
    [property: Id(8)] string? Source = null,
    [property: Id(9)] string? Entry = null);
