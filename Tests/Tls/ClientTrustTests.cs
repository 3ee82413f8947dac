using Mep.Sdk;
using Mep.Tests.Cli;
using Xunit;

namespace Mep.Tests.Tls;

/// <summary>
/// The SDK and the CLI verify the API's certificate: against the site's CA when MEP_CA_FILE (or --ca-file) names it,
/// else against the system's store; a certificate for another host name is refused either way.
/// </summary>
public sealed class ClientTrustTests
{
    private const string Task = "0f0f0f0f-0000-4000-8000-000000000001";

    /// <summary>What an SDK call to a server with a certificate for <paramref name="names"/> throws, trusting its CA or not.</summary>
    private static async Task<Exception> CallAsync(bool trustCa, params string[] names)
    {
        await using var server = await HttpsTestServer.StartAsync(names);
        using var handler = MepTls.CreateHandler(trustCa ? server.CaFile : null);
        using var client = new MepClient(server.Address, "t", handler);
        return await Assert.ThrowsAnyAsync<Exception>(() => client.GetTaskAsync(Guid.Parse(Task)));
    }

    [Fact]
    public async Task A_client_trusting_the_sites_CA_gets_through()
    {
        var e = Assert.IsType<MepApiException>(await CallAsync(trustCa: true, "127.0.0.1"));
        Assert.Equal(404, e.Status); // the server's own answer: the TLS session was made
    }

    [Fact]
    public async Task A_client_without_the_CA_is_refused_and_told_about_MEP_CA_FILE()
    {
        var e = Assert.IsType<HttpRequestException>(await CallAsync(trustCa: false, "127.0.0.1"));
        Assert.Equal(HttpRequestError.SecureConnectionError, e.HttpRequestError);
        Assert.Contains("errors in the certificate chain", e.Message, StringComparison.Ordinal); // PartialChain: the CA is nowhere to be found
        Assert.Contains("set MEP_CA_FILE", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_for_another_host_name_is_refused_though_the_CA_is_trusted()
    {
        var e = Assert.IsType<HttpRequestException>(await CallAsync(trustCa: true, "api.other.example.org"));
        Assert.Contains("RemoteCertificateNameMismatch", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not name '127.0.0.1'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_CLI_trusts_MEP_CA_FILE_and_without_it_says_what_to_set()
    {
        await using var server = await HttpsTestServer.StartAsync("127.0.0.1");
        var url = server.Address.AbsoluteUri;

        var trusted = await CliRunner.RunAsync(new Dictionary<string, string> { ["MEP_CA_FILE"] = server.CaFile }, "task", "get", Task, "--token", "t", "--url", url);
        var flag = await CliRunner.RunAsync("task", "get", Task, "--token", "t", "--url", url, "--ca-file", server.CaFile);
        var untrusted = await CliRunner.RunAsync("task", "get", Task, "--token", "t", "--url", url);

        Assert.Equal("mep: 404 stand-in", Assert.Single(trusted.StderrLines));
        Assert.Equal("mep: 404 stand-in", Assert.Single(flag.StderrLines));
        Assert.Equal(2, untrusted.ExitCode);
        var line = Assert.Single(untrusted.StderrLines);
        Assert.StartsWith($"mep: cannot reach {url}: TLS with", line, StringComparison.Ordinal);
        Assert.Contains("set MEP_CA_FILE", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_CA_file_without_certificates_is_a_usage_error_naming_it()
    {
        var empty = Path.GetTempFileName();
        try
        {
            var run = await CliRunner.RunAsync("task", "get", Task, "--token", "t", "--ca-file", empty);

            Assert.Equal(2, run.ExitCode);
            Assert.Equal($"mep: --ca-file '{empty}' holds no certificate (expected PEM 'BEGIN CERTIFICATE' blocks)", Assert.Single(run.StderrLines));
        }
        finally
        {
            File.Delete(empty);
        }
    }
}
