using System.Diagnostics;
using Mep.Database.PostgreSql;
using Mep.Database.Sqlite;
using Mep.Grains.Broker;
using Mep.Grains.Endpoints;
using Mep.Grains.Launching;
using Mep.Identity;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Mep.Cli.Doctor;

/// <summary>The checks of <c>mep doctor</c>, each a few lines of findings; none changes anything.</summary>
internal static class DoctorChecks
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    public static IEnumerable<Finding> ServiceAccount(DoctorSettings s)
    {
        if (string.IsNullOrEmpty(s.RunAs))
        {
            yield return Finding.Ok("service account", "Mep:RunAs is empty: the silo runs as whoever starts it (systemd User=)");
            yield break;
        }

        yield return LocalAccounts.Find(s.RunAs) is { } account
            ? account.Uid == 0
                ? Finding.Fail("service account", $"Mep:RunAs '{s.RunAs}' is root", "name an unprivileged account, e.g. mep")
                : Finding.Ok("service account", $"{s.RunAs} (uid {account.Uid})")
            : Finding.Fail("service account", $"Mep:RunAs '{s.RunAs}' does not exist",
                $"useradd --system --no-create-home --shell /usr/sbin/nologin {s.RunAs}");
    }

    public static IEnumerable<Finding> Endpoints(DoctorSettings s)
    {
        if (s.Endpoints.Count == 0)
        {
            yield return Finding.Fail("endpoints", "no endpoint directory is configured", "set Mep:Endpoints:0=/etc/mep/endpoints/NAME (Mep__Endpoints__0=…)");
            yield break;
        }

        foreach (var dir in s.Endpoints)
        {
            EndpointDefinition? endpoint = null;
            string? error = null;
            try
            {
                // The silo's own loader: config.yaml, identity mapping, template and schema, with its messages.
                endpoint = EndpointCatalog.Load(dir, NullLogger.Instance);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                error = e.Message;
            }

            if (endpoint is null)
            {
                yield return Finding.Fail($"endpoint {dir}", error!, "correct the file and field named; `mep config render` and `mep mapping test` check them one by one");
                continue;
            }

            using (endpoint)
            {
                yield return Finding.Ok($"endpoint {dir}",
                    $"{endpoint.EndpointId} ({endpoint.DisplayName}): config.yaml, identity mapping, template{(endpoint.SchemaFile is null ? "" : " and schema")} load");
                foreach (var warning in endpoint.IdentityMapper.Current.Warnings)
                {
                    yield return Finding.Warn($"endpoint {dir}", $"identity mapping: {warning}");
                }
            }
        }
    }

    public static async Task<IReadOnlyList<Finding>> LauncherAsync(DoctorSettings s)
    {
        var path = s.LauncherSocket;
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            return [Finding.Fail("launcher", $"no socket at {path} (Mep:LauncherSocket)", "start the launcher (systemctl start mep-launcher) or point Mep:LauncherSocket at its Launcher:SocketPath")];
        }

        if ((File.GetAttributes(path) & FileAttributes.Directory) != 0)
        {
            return [Finding.Fail("launcher", $"{path} is a directory, not the launcher's socket", "set Mep:LauncherSocket to the socket file")];
        }

        using var cts = new CancellationTokenSource(Deadline);
        try
        {
            var running = await new LauncherClient(path).ListAsync(cts.Token);
            return [Finding.Ok("launcher", $"{path} answers ({running.Count} user endpoint process(es) running)")];
        }
        catch (Exception e) when (e is LauncherException or OperationCanceledException or IOException)
        {
            var fix = e.Message.Contains("permission denied", StringComparison.OrdinalIgnoreCase)
                ? $"run mep doctor as the silo's account ({s.RunAs}); the launcher answers only its Launcher:ClientUser"
                : "check that mep-launcher runs (journalctl -u mep-launcher) and listens on this path";
            return [Finding.Fail("launcher", e is OperationCanceledException ? $"{path}: no answer within {Deadline.TotalSeconds:0} s" : e.Message, fix)];
        }
    }

    public static async Task<IReadOnlyList<Finding>> BrokerAsync(DoctorSettings s)
    {
        var options = s.Broker;
        var findings = new List<Finding>();
        if (!OperatingSystem.IsWindows() && options.AdminPasswordFile is { } file && File.Exists(file)
            && (File.GetUnixFileMode(file) & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.GroupWrite)) != 0)
        {
            findings.Add(Finding.Warn("broker", $"{file} (Mep:Broker:AdminPasswordFile) can be read or changed by others", $"chmod 0640 {file}; chown root:{s.RunAs} {file}"));
        }

        try
        {
            options.ResolveAdminPassword();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            findings.Add(Finding.Fail("broker", $"admin password: {e.Message}", "set Mep:Broker:AdminPasswordFile to a file the silo's account can read"));
            return findings;
        }

        using var cts = new CancellationTokenSource(Deadline);
        using var http = new HttpClient(options.ManagementHandler()) { Timeout = Deadline };
        try
        {
            await new BrokerAdmin(http, Options.Create(options)).PingAsync(cts.Token);
            findings.Add(Finding.Ok("broker", $"management API at {options.ManagementUri} answers for virtual host {options.VirtualHost}"));
        }
        catch (Exception e) when (e is BrokerAdminException or OperationCanceledException or HttpRequestException)
        {
            findings.Add(Finding.Fail("broker", $"management API: {e.Message}",
                "check Mep:Broker:Host and ManagementPort, that the rabbitmq_management plugin is enabled, and the admin user and its password"));
            return findings;
        }

        await using var connection = new BrokerConnection(Options.Create(options));
        try
        {
            var amqp = await connection.GetAsync(cts.Token);
            findings.Add(amqp.IsOpen
                ? Finding.Ok("broker", $"AMQP {options.Host}:{options.AmqpPort} accepts the admin user")
                : Finding.Fail("broker", $"AMQP {options.Host}:{options.AmqpPort}: connection closed", "check the broker's log"));
        }
        catch (Exception e) when (e is OperationCanceledException or RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            findings.Add(Finding.Fail("broker", $"AMQP {options.Host}:{options.AmqpPort}: {e.Message}", "check Mep:Broker:AmqpPort and that the broker listens there"));
        }

        return findings;
    }

    public static async Task<IReadOnlyList<Finding>> DatabaseAsync(DoctorSettings s)
    {
        if (string.Equals(s.DatabaseProvider, "postgresql", StringComparison.Ordinal))
        {
            return [await PostgreSqlAsync(s)];
        }

        if (!string.Equals(s.DatabaseProvider, "sqlite", StringComparison.Ordinal))
        {
            return [Finding.Fail("database", $"Mep:Database:Provider '{s.DatabaseProvider}' is not sqlite or postgresql", "set Mep:Database:Provider")];
        }

        var file = Path.Combine(s.DataDirectory, "mep.db");
        if (!File.Exists(file))
        {
            return [Finding.Warn("database", $"{file} does not exist yet", $"the silo creates it at its first start, or: mep db init --provider sqlite --database {file} (as {s.RunAs})")];
        }

        try
        {
            var version = await SqliteStorageInitializer.ReadStoredVersionAsync(file);
            return version == SqliteStorageSchema.Version
                ? [Finding.Ok("database", $"SQLite {file}, schema version {version}")]
                : [Finding.Fail("database", $"SQLite {file} has schema version {version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, this MEP uses {SqliteStorageSchema.Version}",
                    $"mep db init --provider sqlite --database {file} (as {s.RunAs})")];
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            return [Finding.Fail("database", $"SQLite {file}: {e.Message}", $"the file must be a MEP database owned by {s.RunAs}")];
        }
    }

    private static async Task<Finding> PostgreSqlAsync(DoctorSettings s)
    {
        if (s.ConnectionStringFile is not { } path)
        {
            return Finding.Fail("database", "Mep:Database:Provider is postgresql but Mep:Database:ConnectionStringFile is not set", "set it to the silo role's connection string file (0600)");
        }

        try
        {
            await using var source = NpgsqlDataSource.Create(ConnectionStringFile.Read(path));
            using var cts = new CancellationTokenSource(Deadline);
            var version = await PostgreSqlSchema.VerifyAsync(source, cts.Token);
            return Finding.Ok("database", $"PostgreSQL via {path}, schema version {version}");
        }
        catch (Mep.Database.Migrations.SchemaException e)
        {
            return Finding.Fail("database", e.Message, "mep db init --connection-string-file OWNER_FILE --grant-to SILO_ROLE");
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            return Finding.Fail("database", $"PostgreSQL via {path}: {e.Message}", "check the host, port, database, role and password in the connection string file, and pg_hba.conf");
        }
    }

    /// <summary>Only endpoints whose template chooses the Slurm provider need it; without sbatch this is a warning.</summary>
    public static async Task<IReadOnlyList<Finding>> SlurmAsync()
    {
        var sinfo = new ProcessStartInfo("sinfo", ["-h", "-o", "%P"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        try
        {
            using var process = Process.Start(sinfo)!;
            using var cts = new CancellationTokenSource(Deadline);
            var output = await process.StandardOutput.ReadToEndAsync(cts.Token);
            var error = await process.StandardError.ReadToEndAsync(cts.Token);
            await process.WaitForExitAsync(cts.Token);
            return process.ExitCode == 0
                ? [Finding.Ok("slurm", $"sinfo answers; partitions: {string.Join(", ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}")]
                : [Finding.Warn("slurm", $"sinfo failed: {error.Trim()}", "check slurmctld and munge on this node (only endpoints using provider slurm need them)")];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return [Finding.Warn("slurm", "sinfo is not on PATH: the slurm provider cannot be used here", "install the Slurm client commands if an endpoint's template uses provider slurm")];
        }
        catch (OperationCanceledException)
        {
            return [Finding.Warn("slurm", $"sinfo did not answer within {Deadline.TotalSeconds:0} s", "check slurmctld")];
        }
    }
}
