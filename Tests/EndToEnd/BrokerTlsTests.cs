using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mep.Protocol.Messages;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// Section 2.5 of the paper: service to endpoints over AMQPS. While a task runs end to end, the broker's own record of
/// its connections (the management API's <c>ssl</c> field) shows every one of them, the silo's and the UEP's, as TLS.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed class BrokerTlsTests(SiteFixture site)
{
    [Fact]
    public async Task Every_broker_connection_of_an_end_to_end_task_is_tls()
    {
        using var alice = site.ClientFor(site.AliceIdentity);
        var function = await SiteApi.RegisterAsync(alice, "echo over amqps");
        var receipt = await SiteApi.SubmitAsync(alice, function, 1);
        Assert.Equal(ApiTaskStatus.Success, (await SiteApi.WaitForResultAsync(site, alice, receipt.TaskIds[0])).Status);

        // The UEP idles for minutes before it stops, so its manager's and workers' connections are still open.
        var uepUser = BrokerNames.UepUser(receipt.UserEndpointId);
        var connections = new List<JsonObject>();
        await Poll.UntilTrue(
            async () =>
            {
                connections = await ConnectionsAsync();
                return connections.Any(c => Text(c, "user") == uepUser) && connections.Any(c => Text(c, "user") == site.Broker.AdminUser);
            },
            TimeSpan.FromSeconds(30),
            () => $"the UEP's and the silo's connections in the broker's list: {string.Join(", ", connections.Select(Describe))}");

        Assert.All(connections, c => Assert.True(c["ssl"] is JsonValue v && v.GetValue<bool>(), $"{Describe(c)} is not TLS"));
        Assert.All(connections, c => Assert.StartsWith("tlsv1.", Text(c, "ssl_protocol") ?? "", StringComparison.Ordinal));
    }

    private async Task<List<JsonObject>> ConnectionsAsync()
    {
        using var http = site.Broker.AdminManagementClient();
        var list = await http.GetFromJsonAsync<JsonArray>("api/connections");
        return list!.OfType<JsonObject>().ToList();
    }

    private static string? Text(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static string Describe(JsonObject c) => $"{Text(c, "name")} ({Text(c, "user")}, {Text(c, "user_provided_name")}, ssl={c["ssl"]})";
}
