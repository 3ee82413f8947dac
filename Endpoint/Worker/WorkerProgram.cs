using System.Globalization;
using Mep.Endpoint.Python;

namespace Mep.Endpoint.Worker;

/// <summary>
/// <c>mep-endpoint worker --document PATH --block BLOCK_ID</c>: one worker of a UEP, started by the UEP's provider
/// (a local child process, or one per node of a batch job) as the UEP's user, after worker_init. Exit codes: 0 after
/// a signal or when the UEP is gone; <see cref="ExitCodes"/> otherwise, with the cause on the last line of stderr.
/// </summary>
internal static class WorkerProgram
{
    public const string Command = "worker";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        WorkerCommandLine command;
        WorkerDocument doc;
        TimeSpan brokerRecovery;
        try
        {
            command = WorkerCommandLine.Parse(args);
            doc = WorkerDocumentFile.Read(command.DocumentPath);
            TrustStoreLocation.TrustOnly(doc.Broker.Tls ? doc.Broker.CaFile : null);
            brokerRecovery = BrokerRecoveryDeadline(Environment.GetEnvironmentVariable);
        }
        catch (WorkerUsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return ExitCodes.BadStartDocument;
        }
        catch (WorkerDocumentException e)
        {
            Log.Error(e.Message);
            return ExitCodes.BadStartDocument;
        }

        string? scratch = null;
        try
        {
            Native.RedirectStdinToDevNull();
            var identity = ProcessIdentity.Current();
            var placement = WorkerPlacement.FromEnvironment(command.BlockId, Environment.GetEnvironmentVariable);
            var workingDirectory = ShellRunner.DefaultWorkingDirectory();
            // Node-local and private (0700): where Python functions' output goes during a call.
            scratch = Directory.CreateTempSubdirectory($"mep-worker-{placement.WorkerId}-").FullName;
            var shell = new ShellRunner(identity, workingDirectory);
            Log.Info($"mep-endpoint worker {placement.WorkerId} of UEP {doc.UepId} pid {Environment.ProcessId} as {identity.Username} (uid {identity.Uid}) on {identity.Hostname}"
                     + $"{(placement.JobId is null ? "" : $" in job {placement.JobId}")}, in {workingDirectory}");
            var scratchDirectory = scratch;
            WorkerService service;
            try
            {
                service = new WorkerService(doc, placement, identity, shell,
                    index => new TaskSlot(index, new PythonRunner(
                        string.Create(CultureInfo.InvariantCulture, $"slot{index}"), identity, workingDirectory, scratchDirectory,
                        () => Environment.GetEnvironmentVariable("PATH"))),
                    brokerRecovery);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The run directory (status file, attempts) cannot be used.
                Log.Error($"cannot use the UEP directory {doc.RunDirectory}: {e.Message}");
                return ExitCodes.InternalError;
            }

            await using (service.ConfigureAwait(false))
            {
                return await service.RunAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // The whole trace for whoever debugs it, then one line that names the cause as the last word.
            Log.Warn(e.ToString());
            Log.Error($"internal error: {e.GetType().Name}: {e.Message}");
            return ExitCodes.InternalError;
        }
        finally
        {
            if (scratch is not null)
            {
                try
                {
                    Directory.Delete(scratch, recursive: true);
                }
                catch (IOException)
                {
                    // A function's leftover child may still hold a file; the system's tmp cleaning takes it.
                }
            }
        }
    }

    /// <summary>The same operator override as the UEP's (<see cref="EndpointSettings.BrokerRecoveryVariable"/>).</summary>
    private static TimeSpan BrokerRecoveryDeadline(Func<string, string?> environment)
    {
        if (environment(EndpointSettings.BrokerRecoveryVariable) is not { } text)
        {
            return EndpointSettings.DefaultBrokerRecoveryDeadline;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds)
            || seconds <= 0 || seconds > 7 * 86400)
        {
            throw new WorkerUsageException($"{EndpointSettings.BrokerRecoveryVariable} must be a positive number of seconds");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
