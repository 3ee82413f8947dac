using Mep.Grains.Endpoints;
using Mep.Protocol.Api;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Grains;

/// <summary>
/// config.yaml's <c>pam:</c> through the real REST API, grains and launcher: the endpoint asks for a PAM service whose
/// account stack (a file /etc/pam.d/mep-test-* written here) denies Alice, so her task fails with PAM's refusal.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class UserEndpointPamTests(SiteFixture site) : IAsyncLifetime
{
    private readonly string service = $"mep-test-{Guid.NewGuid().ToString("N")[..8]}-e2e";
    private LifecycleSite? _lifecycle;

    private string ServiceFile => Path.Combine("/etc/pam.d", service);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        File.Delete(ServiceFile);
        if (_lifecycle is not null)
        {
            await _lifecycle.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_user_pam_denies_gets_the_refusal_as_the_reason_her_tasks_failed()
    {
        // The list exists before the service can be used: with onerr=fail a missing list would deny anybody.
        var denied = Path.Combine("/var/tmp", $"{service}-denied");
        File.WriteAllText(denied, site.Alice.Name + "\n");
        File.WriteAllText(ServiceFile, $"account required pam_listfile.so item=user sense=deny file={denied} onerr=fail\naccount required pam_permit.so\n");
        File.SetUnixFileMode(ServiceFile, (UnixFileMode)0b110_100_100);
        _lifecycle = await LifecycleSite.StartAsync(site, new Dictionary<string, string> { ["alice"] = site.Alice.Name },
            extraConfig: $"pam:\n  enable: true\n  service: {service}", launcherArguments: [$"--Launcher:Pam:Services:0={service}"]);
        try
        {
            var receipt = await _lifecycle.SubmitAsync("alice");
            using var client = _lifecycle.Client("alice");
            var task = await Poll.Until(
                async () => (await client.GetTaskStatusAsync(receipt.TaskIds)).Tasks.Values.SingleOrDefault(t => t.Status != ApiTaskStatus.Pending),
                TimeSpan.FromMinutes(1),
                () => "the task is still pending");

            Assert.Equal(ApiTaskStatus.Failed, task.Status);
            Assert.Contains($"the launcher refused to start the user endpoint: PAM account check (service {service}) refused user {site.Alice.Name}: ",
                task.Result!.Error);
        }
        finally
        {
            File.Delete(denied);
        }
    }

    [Fact]
    public void The_pam_keys_are_read_and_a_bad_value_names_its_key()
    {
        var dir = Directory.CreateTempSubdirectory("mep-pam-config-").FullName;
        try
        {
            string? Load(string extra)
            {
                TestEndpoint.Write(dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>(), extra);
                using var endpoint = EndpointCatalog.Load(dir, NullLogger.Instance);
                return endpoint.PamService;
            }

            Assert.Null(Load(""));
            Assert.Null(Load("pam:\n  enable: false\n  service: sshd"));
            Assert.Equal("mep", Load("pam:\n  enable: true"));
            Assert.Equal("mep-gpu", Load("pam: {enable: true, service: mep-gpu}"));

            var bad = Assert.Throws<InvalidOperationException>(() => Load("pam:\n  enable: maybe"));
            Assert.Contains("config.yaml: pam.enable must be true or false, not 'maybe'", bad.Message);
            bad = Assert.Throws<InvalidOperationException>(() => Load("pam:\n  enable: true\n  service: ../shadow"));
            Assert.Contains("config.yaml: pam.service '../shadow' is not a PAM service name", bad.Message);
            bad = Assert.Throws<InvalidOperationException>(() => Load("pam:\n  enabled: true"));
            Assert.Contains("enabled", bad.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
