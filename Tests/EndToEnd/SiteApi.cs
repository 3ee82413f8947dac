using System.Net.Http.Json;
using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Tests.Infrastructure;
using Xunit;
using ApiTaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.EndToEnd;

/// <summary>The REST calls the end-to-end tests make, each asserting success so a failure shows the problem body.</summary>
internal static class SiteApi
{
    public static readonly TimeSpan ResultTimeout = TimeSpan.FromMinutes(2);

    public static async Task<Guid> RegisterAsync(HttpClient client, string command) =>
        (await PostAsync<FunctionView>(client, "v1/functions", new RegisterShellFunctionRequest(command))).FunctionId;

    public static Task<SubmitResponse> SubmitAsync(HttpClient client, Guid function, int count, string endpointId = SiteFixture.EndpointId) =>
        PostAsync<SubmitResponse>(client, $"v1/endpoints/{endpointId}/submit",
            new SubmitRequest(Enumerable.Repeat(new TaskSubmission(function), count).ToList()));

    public static Task<TaskView> WaitForResultAsync(SiteFixture site, HttpClient client, Guid taskId) =>
        Poll.Until<TaskView>(
            async () =>
            {
                var view = await GetAsync<TaskView>(client, $"v1/tasks/{taskId}");
                return view.Status == ApiTaskStatus.Pending ? null : view;
            },
            ResultTimeout,
            () => $"task {taskId} never completed\n{site.Diagnostics()}");

    public static async Task<T> PostAsync<T>(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body, ProtocolJson.Options);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<T>(text, ProtocolJson.Options)!;
    }

    public static async Task<T> GetAsync<T>(HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<T>(text, ProtocolJson.Options)!;
    }
}
