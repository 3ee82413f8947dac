using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Tests.EndToEnd;
using Mep.Tests.Infrastructure;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Cluster;

/// <summary>The REST calls and checks the cluster tests share: numbered tasks, batch status, the nodes' audit logs.</summary>
internal static class ClusterTasks
{
    /// <summary>A shell function that prints its argument <c>n</c>: each task's output names the task it belongs to.</summary>
    public static Task<Guid> RegisterEchoAsync(HttpClient client, string prefix = "") =>
        SiteApi.RegisterAsync(client, prefix + "echo task {n}");

    /// <summary>Tasks numbered <paramref name="first"/>.. of the echo function, in one submit.</summary>
    public static Task<SubmitResponse> SubmitNumberedAsync(HttpClient client, Guid function, int first, int count, JsonObject? config = null) =>
        SiteApi.PostAsync<SubmitResponse>(client, $"v1/endpoints/{ClusterFixture.EndpointId}/submit",
            new SubmitRequest(
                Enumerable.Range(first, count)
                    .Select(n => new TaskSubmission(function, new Dictionary<string, string> { ["n"] = n.ToString(CultureInfo.InvariantCulture) }))
                    .ToList(),
                config));

    public static string ExpectedOutput(int n) => $"task {n}";

    /// <summary>The tasks' views through one batch status call each 200 ids.</summary>
    public static async Task<Dictionary<Guid, TaskView>> StatusAsync(HttpClient client, IReadOnlyCollection<Guid> ids)
    {
        var views = new Dictionary<Guid, TaskView>();
        foreach (var chunk in ids.Chunk(200))
        {
            var response = await SiteApi.PostAsync<TaskStatusResponse>(client, "v1/tasks/status", new TaskStatusRequest(chunk));
            foreach (var (id, view) in response.Tasks)
            {
                views[id] = view;
            }
        }

        return views;
    }

    /// <summary>Polls until no task of <paramref name="ids"/> is pending; returns the final views.</summary>
    public static async Task<Dictionary<Guid, TaskView>> WaitUntilDoneAsync(HttpClient client, IReadOnlyCollection<Guid> ids, TimeSpan timeout, Func<string> describe)
    {
        Dictionary<Guid, TaskView> last = [];
        await Poll.UntilTrue(async () =>
        {
            last = await StatusAsync(client, ids);
            return last.Count == ids.Count && last.Values.All(v => v.Status != ApiTaskStatus.Pending);
        }, timeout, () => $"{last.Values.Count(v => v.Status == ApiTaskStatus.Pending)} of {ids.Count} tasks still pending "
            + $"({ids.Count - last.Count} not found)\n{describe()}");
        return last;
    }

    /// <summary>How many <c>task-ended</c> entries each task has in the audit logs of all nodes, the dead ones' included.</summary>
    public static Dictionary<Guid, int> EndedEntries(IEnumerable<ClusterNode> nodes)
    {
        var counts = new Dictionary<Guid, int>();
        foreach (var node in nodes.Where(n => File.Exists(n.AuditLog)))
        {
            foreach (var line in File.ReadLines(node.AuditLog))
            {
                // A SIGKILLed silo may leave a last line half written.
                if (TryParse(line) is { } entry
                    && entry.TryGetProperty("action", out var action) && action.GetString() == "task-ended"
                    && entry.TryGetProperty("task_id", out var id) && Guid.TryParse(id.GetString(), out var taskId))
                {
                    counts[taskId] = counts.GetValueOrDefault(taskId) + 1;
                }
            }
        }

        return counts;
    }

    private static JsonElement? TryParse(string line)
    {
        try
        {
            return JsonDocument.Parse(line).RootElement;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
