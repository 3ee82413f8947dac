using Mep.Endpoint.Providers.Local;
using Mep.Endpoint.Providers.Slurm;
using Mep.Protocol.Config;

namespace Mep.Endpoint.Providers;

/// <summary>The provider a rendered config asks for (<c>engine.provider.type</c>; none: local).</summary>
internal static class WorkerProviders
{
    /// <summary>How long a cancelled block's workers get to hand their tasks back before they are killed.</summary>
    public static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A provider for the config. One that cannot be built (a setting it refuses) becomes an
    /// <see cref="UnavailableProvider"/>: the UEP still starts, and fails its tasks with the reason instead of crashing.
    /// </summary>
    public static IWorkerProvider Create(ProviderConfig? config, string uepId)
    {
        try
        {
            return Build(config, uepId);
        }
        catch (ProviderException e)
        {
            return new UnavailableProvider(config?.Type.ToString().ToLowerInvariant() ?? "local", e.Message);
        }
    }

    private static IWorkerProvider Build(ProviderConfig? config, string uepId) => config switch
    {
        null or { Type: ProviderType.Local } => new LocalProvider(CancelGrace),
        { Type: ProviderType.Slurm } => new SlurmProvider(config, uepId, new SlurmCommands(SlurmCommandOptions.FromEnvironment())),
        _ => throw new ProviderException($"engine.provider.type: {config.Type} is not available in this build"),
    };
}

/// <summary>Stands for a provider that could not be built: every submission fails with why.</summary>
internal sealed class UnavailableProvider(string name, string reason) : IWorkerProvider
{
    public string Name => name;

    public int WorkersPerBlock => 1;

    public Task<BlockInfo> SubmitAsync(WorkerLaunch launch, CancellationToken ct) => throw new ProviderException(reason);

    public Task<IReadOnlyList<BlockInfo>> PollAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<BlockInfo>>([]);

    public Task CancelAsync(IReadOnlyCollection<string> blockIds, CancellationToken ct) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
