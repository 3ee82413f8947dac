using System.Text.Json.Nodes;
using Mep.Endpoint;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Endpoint;

public sealed class EndpointSettingsTests
{
    [Theory]
    [InlineData("{}", 4)]
    [InlineData("{\"engine\": null}", 4)]
    [InlineData("{\"engine\": {\"max_workers_per_node\": null}}", 4)]
    [InlineData("{\"engine\": {\"max_workers_per_node\": 8}}", 8)]
    [InlineData("{\"engine\": {\"max_workers_per_node\": 1, \"provider\": {\"type\": \"local\"}}, \"display_name\": \"x\"}", 1)]
    public void Max_workers_from_config(string config, int expected) =>
        Assert.Equal(expected, EndpointSettings.ParseMaxWorkers(JsonNode.Parse(config)!.AsObject()));

    [Fact]
    public void Max_workers_defaults_without_config() => Assert.Equal(4, EndpointSettings.ParseMaxWorkers(null));

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("2.5")]
    [InlineData("\"many\"")]
    [InlineData("\" 3\"")]
    [InlineData("\"16\"")]
    [InlineData("true")]
    [InlineData("[4]")]
    [InlineData("70000")]
    public void Unusable_max_workers_is_an_error_naming_the_field(string value)
    {
        var e = Assert.Throws<StartDocumentException>(() =>
            EndpointSettings.ParseMaxWorkers(JsonNode.Parse($"{{\"engine\": {{\"max_workers_per_node\": {value}}}}}")!.AsObject()));
        Assert.StartsWith("config.engine.max_workers_per_node: must be an integer from 1 to 65535", e.Message);
    }

    [Fact]
    public void The_old_top_level_key_is_refused_by_name()
    {
        var e = Assert.Throws<StartDocumentException>(() =>
            EndpointSettings.ParseMaxWorkers(JsonNode.Parse("{\"max_workers_per_node\": 2}")!.AsObject()));
        Assert.Equal("config.max_workers_per_node: is not a known setting", e.Message);
    }

    [Fact]
    public void Periods_come_from_the_document()
    {
        var s = EndpointSettings.FromStartDocument(StartDocumentTests.ValidDocument() with { HeartbeatPeriodSeconds = 2.5, IdleTimeoutSeconds = 300 });

        Assert.Equal(TimeSpan.FromSeconds(2.5), s.HeartbeatPeriod);
        Assert.Equal(TimeSpan.FromMinutes(5), s.IdleTimeout);
        Assert.Equal(2, s.MaxWorkers);
    }

    [Theory]
    [InlineData(0, 300, "heartbeat_period_seconds")]
    [InlineData(-1, 300, "heartbeat_period_seconds")]
    [InlineData(double.NaN, 300, "heartbeat_period_seconds")]
    [InlineData(10, 0, "idle_timeout_seconds")]
    [InlineData(10, 1e12, "idle_timeout_seconds")]
    public void Bad_periods_are_errors(double heartbeat, double idle, string field)
    {
        var doc = StartDocumentTests.ValidDocument() with { HeartbeatPeriodSeconds = heartbeat, IdleTimeoutSeconds = idle };
        var e = Assert.Throws<StartDocumentException>(() => EndpointSettings.FromStartDocument(doc));
        Assert.StartsWith(field, e.Message);
    }

    [Fact]
    public void Broker_recovery_deadline_defaults_and_can_be_overridden()
    {
        var doc = StartDocumentTests.ValidDocument();

        Assert.Equal(TimeSpan.FromSeconds(60), EndpointSettings.FromStartDocument(doc, _ => null).BrokerRecoveryDeadline);
        Assert.Equal(TimeSpan.FromSeconds(2.5), EndpointSettings.FromStartDocument(doc, _ => "2.5").BrokerRecoveryDeadline);
        var e = Assert.Throws<StartDocumentException>(() => EndpointSettings.FromStartDocument(doc, _ => "soon"));
        Assert.StartsWith(EndpointSettings.BrokerRecoveryVariable, e.Message);
    }

    private static EndpointSettings Settings(string config, double heartbeat = 30, double idle = 300) =>
        EndpointSettings.FromStartDocument(
            StartDocumentTests.ValidDocument() with { HeartbeatPeriodSeconds = heartbeat, IdleTimeoutSeconds = idle, Config = JsonNode.Parse(config)!.AsObject() },
            _ => null);

    [Fact]
    public void Idle_limits_default_to_the_endpoints_timeout_and_two_days_of_heartbeats()
    {
        var settings = Settings("{}");
        Assert.Equal(TimeSpan.FromSeconds(30), settings.HeartbeatPeriod);
        Assert.Equal(TimeSpan.FromSeconds(300), settings.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5760 * 30), settings.HardIdleTimeout);
    }

    [Fact]
    public void Idle_heartbeats_count_in_the_configs_heartbeat_period()
    {
        var settings = Settings("{\"heartbeat_period\": 10, \"idle_heartbeats_soft\": 3, \"idle_heartbeats_hard\": 12}");
        Assert.Equal(TimeSpan.FromSeconds(10), settings.HeartbeatPeriod);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(120), settings.HardIdleTimeout);
    }

    [Fact]
    public void Zero_soft_heartbeats_keep_the_endpoints_idle_timeout() =>
        Assert.Equal(TimeSpan.FromSeconds(300), Settings("{\"idle_heartbeats_soft\": 0}").IdleTimeout);
}
