namespace Mep.Endpoint;

/// <summary>
/// mep-endpoint: the user endpoint (UEP) process. Started by mep-launcher as the mapped Unix user, with a
/// <see cref="Mep.Protocol.Launcher.UepStartDocument"/> on stdin. Exit codes: see <see cref="ExitCodes"/>.
/// </summary>
internal static class Program
{
    private static readonly TimeSpan StdinTimeout = TimeSpan.FromSeconds(30);

    private static async Task<int> Main(string[] args)
    {
        if (args is [Worker.WorkerProgram.Command, .. var workerArgs])
        {
            return await Worker.WorkerProgram.RunAsync(workerArgs).ConfigureAwait(false);
        }

        if (args.Length > 0)
        {
            Console.Error.WriteLine("usage: mep-endpoint < start-document.json   (started by mep-launcher; takes no arguments)");
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
            var runner = new ShellRunner(identity, ShellRunner.DefaultWorkingDirectory());
            Log.Info($"mep-endpoint {doc.UepId} (endpoint {doc.EndpointId}) pid {Environment.ProcessId} as {identity.Username} (uid {identity.Uid}) on {identity.Hostname}, in {runner.WorkingDirectory}");
            var service = new EndpointService(doc, settings, runner, identity);
            await using (service.ConfigureAwait(false))
            {
                return await service.RunAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            Log.Error($"internal error: {e}");
            return ExitCodes.InternalError;
        }
    }
}
