using Mep.Contracts;
using Mep.Contracts.Model;

namespace Mep.Grains.Functions;

[GenerateSerializer, Alias("mep.function-state")]
public sealed class FunctionState
{
    [Id(0)]
    public FunctionDefinition? Definition { get; set; }
}

/// <summary>
/// A registered function. Any authenticated user who knows a function's id may run it (as in Globus Compute);
/// an endpoint's allowed_functions list is where admins restrict what runs.
/// </summary>
public sealed class FunctionGrain(
    [PersistentState("function", StorageNames.Mep)] IPersistentState<FunctionState> state) : Grain, IFunctionGrain
{
    public async Task<FunctionDefinition> Register(FunctionDefinition definition)
    {
        if (state.State.Definition is { } existing)
        {
            throw ProblemException.Conflict($"function {existing.FunctionId} is already registered");
        }

        state.State.Definition = definition;
        await state.WriteStateAsync();
        return definition;
    }

    public Task<FunctionDefinition?> Get() => Task.FromResult(state.State.Definition);
}
