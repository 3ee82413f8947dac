using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Mep.Endpoint;
using Mep.Tests.Infrastructure;
using Xunit;

namespace Mep.Tests.Endpoint;

/// <summary>
/// <c>mep-endpoint probe-connect</c>, the bench's baseline of a UEP start: the real program against a real broker
/// connects with the UEP's own connect code and exits 0, and says why when it cannot.
/// </summary>
[Collection(RabbitMqCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class ConnectProbeTests(RabbitMqNode node)
{
    [Fact]
    public async Task Connects_opens_a_channel_and_exits_0()
    {
        var (exit, stderr) = await ProbeAsync(node.AdminUser, node.AdminPassword, node.AmqpPort);
        Assert.True(exit == ExitCodes.Ok, stderr);
        Assert.Contains($"connected to broker amqps://{node.Host}:{node.AmqpPort} vhost / as {node.AdminUser}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_brokers_CA_the_certificate_is_refused_at_once_saying_so()
    {
        var (exit, stderr) = await ProbeAsync(node.AdminUser, node.AdminPassword, node.AmqpPort, caFile: null);

        Assert.Equal(ExitCodes.BrokerFailure, exit);
        var last = stderr.TrimEnd().Split('\n')[^1];
        Assert.Contains($"TLS with broker amqps://{node.Host}:{node.AmqpPort} vhost / as {node.AdminUser} failed: the server's certificate is refused (RemoteCertificateChainErrors)", last, StringComparison.Ordinal);
        Assert.DoesNotContain("connected to broker", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_CA_that_did_not_issue_the_brokers_certificate_is_refused_naming_the_file()
    {
        var other = TestCa.Create(Path.Combine("/var/tmp", $"mep-other-ca-{Guid.NewGuid():N}"), keyOwner: null);
        try
        {
            var (exit, stderr) = await ProbeAsync(node.AdminUser, node.AdminPassword, node.AmqpPort, other.CaFile);

            Assert.Equal(ExitCodes.BrokerFailure, exit);
            Assert.Contains($"failed: the server's certificate is not issued by the CA in '{other.CaFile}'", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(other.Directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_refused_login_exits_3_naming_it()
    {
        var (exit, stderr) = await ProbeAsync(node.AdminUser, "not-the-password", node.AmqpPort);
        Assert.Equal(ExitCodes.BrokerFailure, exit);
        Assert.Contains("broker refused the login", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_credentials_in_the_environment_it_prints_its_usage_and_exits_2()
    {
        var (exit, stderr) = await ProbeAsync(null, null, node.AmqpPort);
        Assert.Equal(ExitCodes.BadStartDocument, exit);
        Assert.Contains($"usage: {ConnectProbe.UserVariable}=U {ConnectProbe.PasswordVariable}=P mep-endpoint probe-connect", stderr, StringComparison.Ordinal);
    }

    private Task<(int Exit, string Stderr)> ProbeAsync(string? user, string? password, int port) => ProbeAsync(user, password, port, node.CaFile);

    private async Task<(int Exit, string Stderr)> ProbeAsync(string? user, string? password, int port, string? caFile)
    {
        string[] target = [ConnectProbe.Command, node.Host, port.ToString(CultureInfo.InvariantCulture), "/"];
        var psi = new ProcessStartInfo(EndpointProcess.ProgramPath, caFile is null ? target : [.. target, caFile])
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        psi.Environment.Remove(ConnectProbe.UserVariable);
        psi.Environment.Remove(ConnectProbe.PasswordVariable);
        if (user is not null && password is not null)
        {
            psi.Environment[ConnectProbe.UserVariable] = user;
            psi.Environment[ConnectProbe.PasswordVariable] = password;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start mep-endpoint");
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stderr);
    }
}
