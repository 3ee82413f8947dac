using Orleans.Concurrency;
using Mep.Contracts.Model;

namespace Mep.Contracts;

/// <summary>A registered function, keyed by its id. Registration is write-once.</summary>
[Alias("mep.function")]
public interface IFunctionGrain : IGrainWithGuidKey
{
    [Alias("register")]
    Task<FunctionDefinition> Register(FunctionDefinition definition);

    /// <summary>The definition, or null when no function has this id.</summary>
    [Alias("get"), ReadOnly]
    Task<FunctionDefinition?> Get();
}
