using Mep.Endpoint.Providers.Local;
using Mep.Protocol.Config;

namespace Mep.Endpoint.Providers;

/// <summary>The provider a rendered config asks for (<c>engine.provider.type</c>; none: local).</summary>
internal static class WorkerProviders
{
    /// <summary>How long a cancelled block's workers get to hand their tasks back before they are killed.</summary>
    public static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(10);

    public static IWorkerProvider Create(ProviderConfig? config, string uepId) => (config?.Type ?? ProviderType.Local) switch
    {
        ProviderType.Local => new LocalProvider(CancelGrace),
        var other => throw new StartDocumentException($"config.engine.provider.type: {other} is not available in this build"),
    };
}
