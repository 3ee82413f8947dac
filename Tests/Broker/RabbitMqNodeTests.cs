using System.Net;
using System.Net.Http.Headers;
using System.Runtime.Versioning;
using System.Text;
using Mep.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit;

namespace Mep.Tests.Broker;

[Collection(RabbitMqCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class RabbitMqNodeTests(RabbitMqNode node)
{
    [Fact]
    public async Task Management_api_answers_the_admin_and_refuses_guest()
    {
        using var http = node.ManagementClient();
        Assert.Equal(HttpStatusCode.OK, (await Get(http, "api/overview", node.AdminUser, node.AdminPassword)).StatusCode);
        // The node is created with its own admin user, so the well-known guest account does not exist.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "api/overview", "guest", "guest")).StatusCode);
    }

    [Fact]
    public async Task Amqp_listener_accepts_the_admin_on_loopback_only()
    {
        var factory = new ConnectionFactory
        {
            HostName = node.Host, Port = node.AmqpPort, UserName = node.AdminUser, Password = node.AdminPassword, Ssl = node.Ssl(),
        };
        await using (var connection = await factory.CreateConnectionAsync())
        {
            Assert.True(connection.IsOpen);
        }

        factory.UserName = "guest";
        factory.Password = "guest";
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => factory.CreateConnectionAsync());
    }

    [Fact]
    public void Admin_password_file_is_private()
    {
        var mode = File.GetUnixFileMode(node.AdminPasswordFile);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.True(node.AdminPassword.Length >= 32);
    }

    private static Task<HttpResponseMessage> Get(HttpClient http, string path, string user, string password)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return http.SendAsync(request);
    }
}
