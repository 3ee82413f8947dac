using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// A private PostgreSQL server for the tests (<c>scripts/postgres-node</c>, the same script run.sh and CI use). When
/// <c>MEP_TEST_POSTGRES_DIR</c> names a running server (run.sh test starts one), that one is used and left running;
/// otherwise one is started in a temporary directory on a free loopback port, once per test run, and stopped and
/// deleted when the test process exits. Each test gets a database of its own from <see cref="CreateDatabaseAsync"/>.
/// Either way the server takes TCP connections over TLS only, and the connection strings say <c>SSL Mode=VerifyFull</c>
/// with the CA that issued its certificate (run.sh's, or one made here).
/// </summary>
public static class PostgresServer
{
    public const string DirectoryVariable = "MEP_TEST_POSTGRES_DIR";

    private static readonly Lazy<Task<ServerInfo>> Started = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string ScriptPath => Path.Combine(RabbitMqNode.RepositoryRoot(), "scripts", "postgres-node");

    /// <summary>
    /// A new database owned by a new login role, and a second login role without any table rights (the silo's);
    /// dropped with both roles on dispose.
    /// </summary>
    public static async Task<TestDatabase> CreateDatabaseAsync()
    {
        var server = await Started.Value;
        var name = "mep_t_" + Guid.NewGuid().ToString("N")[..12];
        var owner = name + "_owner";
        var runtime = name + "_silo";
        await RunScriptAsync(TimeSpan.FromMinutes(1), "create-db", server.Directory, name, owner);
        await RunScriptAsync(TimeSpan.FromMinutes(1), "create-role", server.Directory, runtime, name);
        var credentials = Path.Combine(server.Directory, "credentials");
        return new TestDatabase(server.Directory, name, owner, runtime,
            Path.Combine(credentials, $"{owner}@{name}.connection"), Path.Combine(credentials, $"{runtime}@{name}.connection"));
    }

    /// <summary>The shared server's directory (started on first use).</summary>
    public static async Task<string> DirectoryAsync() => (await Started.Value).Directory;

    internal static async Task DropDatabaseAsync(TestDatabase database)
    {
        NpgsqlConnection.ClearAllPools();
        await RunScriptAsync(TimeSpan.FromMinutes(1), "drop-db", database.ServerDirectory, database.Name, database.OwnerRole, database.RuntimeRole);
    }

    private static async Task<ServerInfo> StartAsync()
    {
        var given = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrEmpty(given))
        {
            // Must be running: status exits 3 otherwise, and that is a clear failure rather than a silent second server.
            await RunScriptAsync(TimeSpan.FromSeconds(30), "status", given);
            return new ServerInfo(given);
        }

        await RunScriptAsync(TimeSpan.FromMinutes(10), "install");
        var tls = TestCa.Create(Path.Combine("/var/tmp", $"mep-postgres-tls-{Guid.NewGuid():N}"), keyOwner: null);
        var certificate = new Dictionary<string, string>
        {
            ["POSTGRES_TLS_CA"] = tls.CaFile,
            ["POSTGRES_TLS_CERT"] = tls.CertificateFile,
            ["POSTGRES_TLS_KEY"] = tls.KeyFile,
        };
        var failures = new List<string>();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            // Under /tmp, which the postgres account can traverse (a directory under /root could not be reached).
            var directory = Directory.CreateTempSubdirectory("mep-postgres-").FullName;
            try
            {
                await RunScriptAsync(TimeSpan.FromMinutes(2), certificate,
                    ["start", directory, FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                DestroyAfterThisProcess(directory, tls.Directory);
                return new ServerInfo(directory);
            }
            catch (InvalidOperationException e)
            {
                // A free port can be taken between our probe and the server's bind; try another.
                failures.Add($"attempt {attempt}: {e.Message}");
                await RunScriptAsync(TimeSpan.FromMinutes(1), "destroy", directory);
            }
        }
        throw new InvalidOperationException("could not start a private PostgreSQL server:\n" + string.Join("\n", failures));
    }

    /// <summary>
    /// A detached watcher (own session, output to /dev/null) that stops and deletes the server once this test process
    /// is gone, however it ends: the test host may be ended before ProcessExit handlers run, or while they run.
    /// </summary>
    private static void DestroyAfterThisProcess(string directory, string tlsDirectory)
    {
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var argument in new[]
        {
            "-f", "sh", "-c", "while kill -0 \"$2\" 2>/dev/null; do sleep 1; done; \"$0\" destroy \"$1\" </dev/null >/dev/null 2>&1; rm -rf \"$3\"",
            ScriptPath, directory, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), tlsDirectory,
        })
        {
            psi.ArgumentList.Add(argument);
        }
        using var watcher = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the PostgreSQL clean-up watcher");
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    internal static Task RunScriptAsync(TimeSpan timeout, params string[] arguments) => RunScriptAsync(timeout, null, arguments);

    private static async Task RunScriptAsync(TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, string[] arguments)
    {
        var psi = new ProcessStartInfo(ScriptPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot run {ScriptPath}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"postgres-node {arguments[0]} did not finish within {timeout}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"postgres-node {string.Join(' ', arguments)} exited {process.ExitCode}: {(await stdout + await stderr).Trim()}");
        }
    }

    private sealed record ServerInfo(string Directory);
}

/// <summary>One test's database: its owner runs migrations, its runtime role is what a silo connects as.</summary>
public sealed class TestDatabase(string serverDirectory, string name, string ownerRole, string runtimeRole,
    string ownerConnectionFile, string runtimeConnectionFile) : IAsyncDisposable
{
    public string ServerDirectory { get; } = serverDirectory;
    public string Name { get; } = name;
    public string OwnerRole { get; } = ownerRole;
    public string RuntimeRole { get; } = runtimeRole;

    /// <summary>A 0600 file with the owner's connection string (what `mep db init` reads).</summary>
    public string OwnerConnectionFile { get; } = ownerConnectionFile;

    /// <summary>A 0600 file with the runtime role's connection string (what the silo reads).</summary>
    public string RuntimeConnectionFile { get; } = runtimeConnectionFile;

    public string OwnerConnectionString => File.ReadAllText(OwnerConnectionFile).Trim();
    public string RuntimeConnectionString => File.ReadAllText(RuntimeConnectionFile).Trim();

    public NpgsqlDataSource OwnerDataSource() => NpgsqlDataSource.Create(OwnerConnectionString);
    public NpgsqlDataSource RuntimeDataSource() => NpgsqlDataSource.Create(RuntimeConnectionString);

    /// <summary>One value, read as the owner (behind the providers' backs).</summary>
    public async Task<object?> ScalarAsync(string sql)
    {
        await using var source = OwnerDataSource();
        await using var command = source.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var source = OwnerDataSource();
        await using var command = source.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public ValueTask DisposeAsync() => new(PostgresServer.DropDatabaseAsync(this));
}
