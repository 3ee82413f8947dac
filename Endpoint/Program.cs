using Mep.Endpoint.Manager;
using Mep.Endpoint.Providers;

namespace Mep.Endpoint;

/// <summary>
/// mep-endpoint: the user endpoint (UEP) process. Started by mep-launcher as the mapped Unix user, with a
/// <see cref="Mep.Protocol.Launcher.UepStartDocument"/> on stdin. Exit codes: see <see cref="ExitCodes"/>.
/// </summary>
internal static class Program
{
    private static readonly TimeSpan StdinTimeout = TimeSpan.FromSeconds(30);

    /// <summary>When Main began (Stopwatch ticks): the UEP's first log line says how long ago, so that a cold start
    /// can be split into runtime load, start-up and broker connect (mep-bench, issue 9).</summary>
    internal static long MainEntered { get; private set; }

    private static async Task<int> Main(string[] args)
    {
        MainEntered = System.Diagnostics.Stopwatch.GetTimestamp();
        if (args is [Worker.WorkerProgram.Command, .. var workerArgs])
        {
            return await Worker.WorkerProgram.RunAsync(workerArgs).ConfigureAwait(false);
        }

        if (args is [ConnectProbe.Command, .. var probeArgs])
        {
            return await ConnectProbe.RunAsync(probeArgs).ConfigureAwait(false);
        }

        if (args.Length > 0)
        {
            Console.Error.WriteLine("usage: mep-endpoint < start-document.json   (started by mep-launcher; the arguments worker … and probe-connect … are its own)");
            return args[0] is "-h" or "--help" ? ExitCodes.Ok : ExitCodes.BadStartDocument;
        }

        Mep.Protocol.Launcher.UepStartDocument doc;
        EndpointSettings settings;
        try
        {
            await using (var stdin = Console.OpenStandardInput())
            {
                doc = await StartDocument.ReadAsync(stdin, StdinTimeout).ConfigureAwait(false);
            }

            settings = EndpointSettings.FromStartDocument(doc);
            TrustStoreLocation.TrustOnly(doc.Broker.Tls ? doc.Broker.CaFile : null);
        }
        catch (StartDocumentException e)
        {
            Log.Error($"bad start document: {e.Message}");
            return ExitCodes.BadStartDocument;
        }

        try
        {
            Native.RedirectStdinToDevNull();
            var identity = ProcessIdentity.Current();
            var home = Environment.GetEnvironmentVariable("HOME");
            if (string.IsNullOrEmpty(home) || !Directory.Exists(home))
            {
                // The UEP directory (worker document, status files) lives there, and batch jobs must reach it.
                Log.Error($"the home directory '{home}' of {identity.Username} does not exist: the user endpoint keeps its files under ~/.mep");
                return ExitCodes.BadStartDocument;
            }

            var dir = UepDirectory.For(doc.UepId, home);
            Log.Info($"mep-endpoint {doc.UepId} (endpoint {doc.EndpointId}) pid {Environment.ProcessId} as {identity.Username} (uid {identity.Uid}) on {identity.Hostname}, in {dir.Path}");
            var provider = WorkerProviders.Create(settings.Config.Engine.Provider, doc.UepId);
            var manager = new EndpointManager(doc, settings, identity, dir, provider, WorkerCommand.Self());
            await using (manager.ConfigureAwait(false))
            {
                return await manager.RunAsync().ConfigureAwait(false);
            }
        }
        catch (StartDocumentException e)
        {
            Log.Error($"bad start document: {e.Message}");
            return ExitCodes.BadStartDocument;
        }
        catch (Exception e)
        {
            Log.Error($"internal error: {e}");
            return ExitCodes.InternalError;
        }
    }
}
