using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Mep.Protocol.Api;
using Mep.Sdk;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>
/// A scrape of the real silo's <c>/metrics</c> after a run shows the counts the run produced: tasks accepted and
/// completed by state, their latency, the UEP start on its node, the submit request; and the gauges of live UEPs per
/// node, readiness per dependency, and Orleans' own meters. The end-to-end tests run one at a time against this
/// silo, so the change between two scrapes is this test's alone.
/// </summary>
[Collection(SiteCollection.Name)]
public sealed partial class MetricsTests(SiteFixture site)
{
    [Fact]
    public async Task A_scrape_after_a_run_shows_the_counts_the_run_produced()
    {
        using var http = site.Tls.Client(site.ApiBase);
        using var alice = site.ClientFor(site.AliceIdentity);
        var ok = await SiteApi.RegisterAsync(alice, "true");
        var fails = await SiteApi.RegisterAsync(alice, "exit 3");
        var endpoint = $"endpoint=\"{SiteFixture.EndpointId}\"";
        var before = await ScrapeAsync(http);

        var receipt = await SiteApi.PostAsync<SubmitResponse>(alice, $"v1/endpoints/{SiteFixture.EndpointId}/submit",
            new SubmitRequest([new TaskSubmission(ok), new TaskSubmission(ok), new TaskSubmission(fails)],
                new() { ["label"] = $"metrics-{Guid.NewGuid():N}" }));
        var states = new List<ApiTaskStatus>();
        foreach (var id in receipt.TaskIds)
        {
            states.Add((await SiteApi.WaitForResultAsync(site, alice, id)).Status);
        }
        Assert.Equal([ApiTaskStatus.Success, ApiTaskStatus.Success, ApiTaskStatus.Failed], states);

        // The exporter answers from a cached scrape for a while (300 ms by default), and a run can be quicker than that:
        // poll until a scrape shows the last count the run makes, then check them all on that scrape.
        var after = await Poll.Until(
            async () => await ScrapeAsync(http) is var s && Sum(s, "mep_task_latency_seconds_count", endpoint) - Sum(before, "mep_task_latency_seconds_count", endpoint) >= 3 ? s : null,
            TimeSpan.FromSeconds(30),
            () => "no scrape showed the run's three task latencies");
        double Delta(string name, params string[] labels) => Sum(after, name, labels) - Sum(before, name, labels);
        Assert.Equal(3, Delta("mep_tasks_submitted", endpoint));
        Assert.Equal(2, Delta("mep_tasks_completed", endpoint, "state=\"success\""));
        Assert.Equal(1, Delta("mep_tasks_completed", endpoint, "state=\"failed\""));
        Assert.Equal(3, Delta("mep_task_latency_seconds_count", endpoint));
        Assert.True(Delta("mep_task_latency_seconds_sum", endpoint) > 0, "latencies were recorded as zero");
        // The silo's view that caps every instrument's label combinations (MetricsEndpoints) keeps the buckets the
        // instrument advises (up to an hour), not OpenTelemetry's defaults (up to 10,000).
        Assert.Contains(Samples(after), s => s.Name == "mep_task_latency_seconds_bucket" && s.Labels.Contains("le=\"3600\"", StringComparison.Ordinal));
        Assert.Equal(1, Delta("mep_uep_starts", endpoint, "outcome=\"started\""));
        Assert.Equal(1, Delta("mep_requests", endpoint, "action=\"submit\"", "status=\"200\""));
        Assert.True(Delta("mep_launcher_requests", "operation=\"start\"", "outcome=\"ok\"") >= 1, "the launcher start was not counted");
        // The three tasks and their three ends went through task-store commits: at least six rows.
        Assert.True(Delta("mep_task_store_commit_rows_count") >= 1, "no task-store commit was counted");
        Assert.True(Delta("mep_task_store_commit_rows_sum") >= 6, "the task-store commits carried fewer rows than the run wrote");

        // Gauges refresh in the background: poll until they have caught up with the running UEP.
        var gauges = await Poll.Until(
            async () => await ScrapeAsync(http) is var s && Sum(s, "mep_node_user_endpoints") >= 1 && Sum(s, "mep_ready", "check=\"launcher\"") == 1 ? s : null,
            TimeSpan.FromSeconds(60),
            () => "the live-UEP and readiness gauges never showed the running site");
        foreach (var check in new[] { "membership", "database", "broker" })
        {
            Assert.Equal(1, Sum(gauges, "mep_ready", $"check=\"{check}\""));
        }
        Assert.Contains(Samples(gauges), s => s.Name.StartsWith("orleans_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_executor_cutting_its_long_poll_short_keeps_its_one_connection_and_no_request_fails()
    {
        using var http = site.Tls.Client(site.ApiBase);
        // The executor's own connections, counted as it opens them (the silo's handshake count, read from a scrape the
        // exporter may have cached, would also count this test's other clients).
        var connections = 0;
        var handler = (SocketsHttpHandler)site.Tls.Handler();
        handler.ConnectCallback = async (context, ct) =>
        {
            Interlocked.Increment(ref connections);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
        using var client = new MepClient(site.ApiBase, site.TokenFor(site.AliceIdentity), handler);
        using var alice = site.ClientFor(site.AliceIdentity);
        var slow = await SiteApi.RegisterAsync(alice, "sleep 10");
        var quick = await SiteApi.RegisterAsync(alice, "true");
        const string status = "http_route=\"/v1/tasks/status\"";
        var before = await ScrapeAsync(http);

        await using var executor = new Executor(client, SiteFixture.EndpointId, new() { ["label"] = $"cuts-{Guid.NewGuid():N}" });
        var waiting = executor.Submit(slow);
        await Poll.UntilTrue(() => Task.FromResult(executor.UserEndpointId is not null), TimeSpan.FromSeconds(30), () => "the first task was not accepted");
        // Each submission while the long poll over the slow task is held cuts that poll short (the request is
        // cancelled); the cut shows on the silo as a status request the client closed. Waiting for each cut to show
        // means the executor's next poll is held by the time of the next submission.
        var quicks = new List<Task<TaskResultView>>();
        for (var cut = 1; cut <= 3; cut++)
        {
            quicks.Add(executor.Submit(quick));
            await Poll.UntilTrue(
                async () => Sum(await ScrapeAsync(http), "http_server_request_duration_seconds_count", status, "http_response_status_code=\"499\"")
                    - Sum(before, "http_server_request_duration_seconds_count", status, "http_response_status_code=\"499\"") >= cut,
                TimeSpan.FromSeconds(30), () => $"cut {cut} of the long poll never showed on the silo");
        }

        await Task.WhenAll(quicks.Append(waiting)).WaitAsync(TimeSpan.FromSeconds(90));
        var after = await ScrapeAsync(http);
        double Delta(string name, params string[] labels) => Sum(after, name, labels) - Sum(before, name, labels);
        // On HTTP/1.1 every cancelled request closed its connection, and the next one paid for a new TLS handshake.
        Assert.Equal(1, connections);
        Assert.Equal(0, Delta("http_server_request_duration_seconds_count", status, "http_response_status_code=\"500\""));
    }

    private static async Task<string> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("metrics");
        response.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The sum of every sample of <paramref name="name"/> (a counter's name has <c>_total</c> added by the
    /// exporter) whose labels include all of <paramref name="labels"/>.</summary>
    private static double Sum(string scrape, string name, params string[] labels) =>
        Samples(scrape)
            .Where(s => s.Name == name || s.Name == name + "_total")
            .Where(s => labels.All(l => s.Labels.Contains(l, StringComparison.Ordinal)))
            .Sum(s => s.Value);

    private static IEnumerable<(string Name, string Labels, double Value)> Samples(string scrape) =>
        scrape.Split('\n')
            .Select(line => SampleLine().Match(line))
            .Where(m => m.Success)
            .Select(m => (m.Groups["name"].Value, m.Groups["labels"].Value, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>[^}]*)\})? (?<value>[^ ]+)")]
    private static partial Regex SampleLine();
}
