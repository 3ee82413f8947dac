using System.Text.Json.Nodes;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// Credentials at rest and in logs (issue 11): the UEP's broker credentials file is its user's alone, and after a task
/// ran end to end no secret — the broker admin password, the UEP's own broker password, the caller's bearer token —
/// appears in anything the site logged: the silo's and the launcher's output, the audit log, the UEP's log and its
/// workers' logs.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class SecretsAtRestTests(SiteFixture site)
{
    [Fact]
    public async Task The_credentials_file_is_the_users_alone_and_no_secret_reaches_a_log()
    {
        var token = site.TokenFor(site.AliceIdentity);
        using var alice = site.ClientWithToken(token);
        var function = await SiteApi.RegisterAsync(alice, "echo at rest");
        var receipt = await SiteApi.SubmitAsync(alice, function, 1);
        Assert.Equal(ApiTaskStatus.Success, (await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0])).Status);

        var uepDirectory = Path.Combine(site.Alice.Home, ".mep", "endpoints", receipt.UserEndpointId);
        var credentials = Path.Combine(uepDirectory, "worker.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(credentials));
        Assert.Equal(site.Alice.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TestUser.Run("stat", ["-c", "%u", credentials], allowFailure: false).Trim());
        var uepPassword = JsonNode.Parse(await File.ReadAllTextAsync(credentials))!["broker"]!["password"]!.GetValue<string>();

        var logs = new Dictionary<string, string>
        {
            ["silo output"] = site.Silo!.Output,
            ["launcher output"] = site.Launcher!.Output,
            ["audit log"] = await File.ReadAllTextAsync(site.AuditLog),
        };
        foreach (var file in Directory.EnumerateFiles(uepDirectory, "*", SearchOption.AllDirectories).Where(f => f != credentials))
        {
            logs[Path.GetRelativePath(uepDirectory, file)] = await File.ReadAllTextAsync(file);
        }

        Assert.Contains(logs, l => l.Key.EndsWith(".log", StringComparison.Ordinal)); // the UEP's own log and its workers' were read
        var secrets = new Dictionary<string, string>
        {
            ["broker admin password"] = site.Broker.AdminPassword,
            ["UEP broker password"] = uepPassword,
            ["bearer token"] = token,
        };
        foreach (var (secret, value) in secrets)
        {
            Assert.True(value.Length >= 12, $"{secret} is too short to search for");
            foreach (var (log, text) in logs)
            {
                var line = text.Split('\n').FirstOrDefault(l => l.Contains(value, StringComparison.Ordinal));
                Assert.True(line is null, $"the {secret} appears in {log}: {line?.Replace(value, "***", StringComparison.Ordinal)}");
            }
        }
    }
}
