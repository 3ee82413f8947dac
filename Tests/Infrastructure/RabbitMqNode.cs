using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Mep.Protocol.Tls;
using RabbitMQ.Client;
using Xunit;

namespace Mep.Tests.Infrastructure;

/// <summary>
/// A private RabbitMQ node for tests, started through <c>scripts/rabbitmq-node</c> (the same script run.sh uses)
/// in its own temporary directory on free loopback ports; stopped and deleted on dispose. It speaks AMQPS and https
/// only, with a certificate from a private CA of its own (<see cref="Tls"/>): clients trust that CA and nothing else.
/// Share one per test class with <c>[Collection(RabbitMqCollection.Name)]</c>, or use it as a class fixture.
/// </summary>
public sealed class RabbitMqNode : IAsyncLifetime
{
    // Generous: CI machines are small and other suites build in parallel; the node usually needs 5-40 s.
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(180);
    private const int StartAttempts = 3;

    public string Host => "127.0.0.1";
    public int AmqpPort { get; private set; }
    public int ManagementPort { get; private set; }
    public int DistributionPort { get; private set; }
    public string AdminUser => "admin";
    public string AdminPassword { get; private set; } = "";
    /// <summary>The node's directory; <c>admin-password</c> in it holds <see cref="AdminPassword"/>.</summary>
    public string DataDirectory { get; private set; } = "";
    public string AdminPasswordFile => Path.Combine(DataDirectory, "admin-password");
    public Uri ManagementUri => new($"https://{Host}:{ManagementPort}/");

    /// <summary>The node's CA and certificate; <see cref="TestCa.CaFile"/> is world-readable (UEPs run as other users).</summary>
    public TestCa Tls { get; } = TestCa.Create(Path.Combine("/var/tmp", $"mep-rabbitmq-tls-{Guid.NewGuid():N}"), keyOwner: null);

    public string CaFile => Tls.CaFile;

    /// <summary>AMQPS settings for a connection factory: the node's certificate verified against its CA and <see cref="Host"/>.</summary>
    public SslOption Ssl() => new()
    {
        Enabled = true,
        ServerName = Host,
        CertificateValidationCallback = new ServerCertificateCheck(PrivateTrust.Load(CaFile, "test CA")).Validate,
    };

    /// <summary>A management API client that trusts the node's CA.</summary>
    public HttpClient ManagementClient() => Tls.Client(ManagementUri);

    /// <summary>A management API client that trusts the node's CA and signs in as the admin user.</summary>
    public HttpClient AdminManagementClient()
    {
        var http = ManagementClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{AdminUser}:{AdminPassword}")));
        return http;
    }

    public static string ScriptPath => Path.Combine(RepositoryRoot(), "scripts", "rabbitmq-node");

    public async Task InitializeAsync()
    {
        // A free port can be taken by someone else between our probe and the node's bind (other suites start
        // nodes in parallel); the node then exits at boot and a fresh directory with fresh ports is tried.
        var failures = new List<string>();
        for (var attempt = 1; attempt <= StartAttempts; attempt++)
        {
            DataDirectory = Directory.CreateTempSubdirectory("mep-rabbitmq-").FullName;
            var ports = FreePorts(3);
            (AmqpPort, ManagementPort, DistributionPort) = (ports[0], ports[1], ports[2]);
            try
            {
                await RunScriptAsync(TimeSpan.FromSeconds(60), "start", DataDirectory,
                    AmqpPort.ToString(), ManagementPort.ToString(), DistributionPort.ToString());
                await RunScriptAsync(ReadyTimeout + TimeSpan.FromSeconds(10), "wait", DataDirectory,
                    ((int)ReadyTimeout.TotalSeconds).ToString());
                AdminPassword = (await File.ReadAllTextAsync(AdminPasswordFile)).Trim();
                return;
            }
            catch (InvalidOperationException e)
            {
                failures.Add($"attempt {attempt}: {e.Message}");
                await StopAndDeleteAsync();
            }
        }
        throw new InvalidOperationException("could not start a private RabbitMQ node:\n" + string.Join("\n", failures));
    }

    public async Task DisposeAsync()
    {
        await StopAndDeleteAsync();
        Directory.Delete(Tls.Directory, recursive: true);
    }

    /// <summary>Stops the node and starts it again on the same ports and data (durable queues and messages survive).</summary>
    public async Task RestartAsync()
    {
        await RunScriptAsync(TimeSpan.FromSeconds(90), "stop", DataDirectory);
        await RunScriptAsync(TimeSpan.FromSeconds(60), "start", DataDirectory,
            AmqpPort.ToString(), ManagementPort.ToString(), DistributionPort.ToString());
        await RunScriptAsync(ReadyTimeout + TimeSpan.FromSeconds(10), "wait", DataDirectory, ((int)ReadyTimeout.TotalSeconds).ToString());
    }

    private async Task StopAndDeleteAsync()
    {
        if (DataDirectory.Length == 0 || !Directory.Exists(DataDirectory))
        {
            return;
        }
        await RunScriptAsync(TimeSpan.FromSeconds(90), "stop", DataDirectory);
        Directory.Delete(DataDirectory, recursive: true);
    }

    /// <summary>The checkout's root: the nearest directory above the test binaries that holds Orleans.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Orleans.sln above {AppContext.BaseDirectory}");
    }

    private static List<int> FreePorts(int count)
    {
        // All listeners stay open until every port is chosen, so the kernel cannot hand out the same one twice.
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToList();
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    /// <summary>
    /// Evaluates an Erlang expression inside the node (<c>rabbitmqctl eval</c>) and returns what it printed: for faults
    /// that only the broker's internals can cause on demand.
    /// </summary>
    public async Task<string> EvalAsync(string expression)
    {
        var env = await File.ReadAllLinesAsync(Path.Combine(DataDirectory, "node.env"));
        var nodeName = env.Select(l => l.Split('=', 2)).First(kv => kv[0] == "NODE")[1];
        var cookie = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "home", ".erlang.cookie"))).Trim();
        return await RunAsync("rabbitmqctl", TimeSpan.FromSeconds(60), ["-n", nodeName, "--erlang-cookie", cookie, "eval", expression]);
    }

    private Task RunScriptAsync(TimeSpan timeout, params string[] args) => RunAsync(ScriptPath, timeout, args,
        new Dictionary<string, string>
        {
            ["RABBITMQ_TLS_CA"] = Tls.CaFile,
            ["RABBITMQ_TLS_CERT"] = Tls.CertificateFile,
            ["RABBITMQ_TLS_KEY"] = Tls.KeyFile,
        });

    private static async Task<string> RunAsync(string program, TimeSpan timeout, string[] args,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }
        var name = Path.GetFileName(program);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot run {program}");
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
            throw new InvalidOperationException($"{name} {args[0]} did not finish within {timeout}");
        }
        var output = await stdout + await stderr;
        if (process.ExitCode != 0)
        {
            // rabbitmqctl's arguments carry the node's cookie: not in the message.
            var shown = name == "rabbitmqctl" ? "eval" : string.Join(' ', args);
            throw new InvalidOperationException($"{name} {shown} exited {process.ExitCode}: {output.Trim()}");
        }
        return output;
    }
}

/// <summary>One private RabbitMQ node shared by every test class in this collection.</summary>
[CollectionDefinition(Name)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqNode>
{
    public const string Name = "RabbitMQ node";
}
