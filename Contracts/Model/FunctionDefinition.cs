namespace Mep.Contracts.Model;

public enum FunctionKindModel
{
    Shell,
}

/// <summary>A registered function: for a shell function, its command template and default walltime.</summary>
[GenerateSerializer, Immutable, Alias("mep.function-definition")]
public sealed record FunctionDefinition(
    [property: Id(0)] Guid FunctionId,
    [property: Id(1)] string OwnerIdentityId,
    [property: Id(2)] FunctionKindModel Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] string Command,
    [property: Id(5)] IReadOnlyList<string> Arguments,
    [property: Id(6)] double WalltimeSeconds,
    [property: Id(7)] DateTimeOffset RegisteredAt);
