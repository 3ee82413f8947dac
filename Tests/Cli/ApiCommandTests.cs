using System.Text.RegularExpressions;
using Mep.Protocol;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Tests.Sdk;
using Xunit;
using TaskStatus = Mep.Protocol.Api.TaskStatus;

namespace Mep.Tests.Cli;

/// <summary>The API commands against the stand-in API server (see <see cref="StandInApiServer"/>).</summary>
public sealed partial class ApiCommandTests : IAsyncLifetime
{
    private StandInApiServer server = null!;
    private Dictionary<string, string> env = null!;

    public async Task InitializeAsync()
    {
        server = await StandInApiServer.StartAsync();
        env = new Dictionary<string, string> { ["MEP_URL"] = server.BaseAddress.AbsoluteUri, ["MEP_TOKEN"] = StandInApiServer.Token };
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    [Fact]
    public async Task Register_shell_prints_only_the_function_id()
    {
        var run = await CliRunner.RunAsync(env, "function", "register-shell", "--command", "echo {n}", "--name", "echo", "--walltime", "2m");

        Assert.Equal(0, run.ExitCode);
        var id = Guid.Parse(Assert.Single(run.StdoutLines));
        var show = await CliRunner.RunAsync(env, "function", "show", id.ToString(), "--json");
        var view = ProtocolJson.Deserialize<FunctionView>(show.Stdout.Trim());
        Assert.Equal(("echo {n}", "echo", 120.0), (view.Command, view.Name, view.WalltimeSeconds));
    }

    [Fact]
    public async Task Submit_waits_and_prints_a_row_per_task_with_exit_code_0()
    {
        var function = server.AddFunction("echo {n}");

        var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(),
            "--arg", "n=hello world", "--count", "3", "--config", """{"queue":"debug"}""");

        Assert.True(run.ExitCode == 0, run.ToString());
        var ids = TaskIds().Matches(run.Stdout).Select(m => Guid.Parse(m.Value)).ToList();
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(server.Knows(id)));
        Assert.Equal(3, Regex.Matches(run.Stdout, "success .*n=hello world").Count);
        Assert.Equal(1, server.SubmitRequests); // one batch for the three tasks
        Assert.Equal("""{"queue":"debug"}""", server.Submits[0].UserEndpointConfig?.ToJsonString());
        Assert.Equal(0, server.TaskGets);
    }

    [Fact]
    public async Task Submit_json_prints_one_task_view_per_line()
    {
        var function = server.AddFunction("echo {n}");

        var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(),
            "--arg", "n=1", "--count", "4", "--json");

        Assert.Equal(0, run.ExitCode);
        var views = run.StdoutLines.Select(ProtocolJson.Deserialize<TaskView>).ToList();
        Assert.Equal(4, views.Count);
        Assert.All(views, v => Assert.Equal((TaskStatus.Success, "n=1\n"), (v.Status, v.Result!.Stdout)));
    }

    [Fact]
    public async Task A_failed_task_or_a_nonzero_return_code_gives_exit_code_1()
    {
        var function = server.AddFunction("true");

        var failed = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(), "--arg", "fail=1");
        var nonzero = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(), "--arg", "rc=4");

        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("walltime of 1s exceeded", failed.Stdout);
        Assert.Equal(1, nonzero.ExitCode);
        Assert.Matches(@"success\s+4", nonzero.Stdout);
    }

    [Fact]
    public async Task A_refused_submission_is_one_line_with_the_status_and_detail_and_exit_code_2()
    {
        var function = server.AddFunction("true");

        var run = await CliRunner.RunAsync(env, "submit", "--endpoint", StandInApiServer.ForbiddenEndpoint,
            "--function", function.FunctionId.ToString(), "--count", "5");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Stdout);
        Assert.Equal(
            $"mep: 403 identity {StandInApiServer.Identity} does not map to a local account on endpoint {StandInApiServer.ForbiddenEndpoint}",
            Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task A_timeout_reports_pending_tasks_and_gives_exit_code_1()
    {
        server.Hold = true;
        var function = server.AddFunction("true");

        var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(),
            "--count", "2", "--timeout", "300ms");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(2, Regex.Matches(run.Stdout, "pending").Count);
        Assert.Equal("mep: timed out after 300ms: 2 of 2 tasks have not finished", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task Task_get_and_endpoint_show_print_the_views()
    {
        var function = server.AddFunction("echo {n}");
        var submit = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(), "--arg", "n=5", "--json");
        var taskId = ProtocolJson.Deserialize<TaskView>(submit.StdoutLines[0]).TaskId;

        var json = await CliRunner.RunAsync(env, "task", "get", taskId.ToString(), "--json");
        var human = await CliRunner.RunAsync(env, "task", "get", taskId.ToString());
        var endpoint = await CliRunner.RunAsync(env, "endpoint", "show", "ep1");
        var missing = await CliRunner.RunAsync(env, "task", "get", Guid.Empty.ToString());

        Assert.Equal(taskId, ProtocolJson.Deserialize<TaskView>(json.Stdout.Trim()).TaskId);
        Assert.Contains("n=5", human.Stdout);
        Assert.Contains("alice (uid 1001)", human.Stdout);
        Assert.Equal(0, endpoint.ExitCode);
        Assert.Contains("Stand-in endpoint", endpoint.Stdout);
        Assert.Contains("uep-ep1-", endpoint.Stdout);
        Assert.Equal(2, missing.ExitCode);
        Assert.Equal($"mep: 404 task {Guid.Empty} does not exist", Assert.Single(missing.StderrLines));
    }

    [Fact]
    public async Task A_refused_token_is_one_line_naming_the_cause()
    {
        var run = await CliRunner.RunAsync(new Dictionary<string, string> { ["MEP_URL"] = server.BaseAddress.AbsoluteUri, ["MEP_TOKEN"] = "wrong" },
            "endpoint", "show", "ep1");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("mep: 401 unauthorized: error=\"invalid_token\"", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task Config_at_file_is_read_from_the_file()
    {
        var function = server.AddFunction("true");
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, """{"account": "a1", "workers": 4}""");

            var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", function.FunctionId.ToString(), "--config", "@" + file);

            Assert.Equal(0, run.ExitCode);
            Assert.Equal("""{"account":"a1","workers":4}""", server.Submits[0].UserEndpointConfig?.ToJsonString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Register_python_reads_the_file_and_show_describes_the_function()
    {
        const string source = "import math\n\ndef area(r):\n    return math.pi * r * r\n";
        var file = WriteSource(source);
        try
        {
            var run = await CliRunner.RunAsync(env, "function", "register-python", file, "--entry", "area", "--walltime", "2m");

            Assert.True(run.ExitCode == 0, run.ToString());
            var id = Guid.Parse(Assert.Single(run.StdoutLines));
            var json = await CliRunner.RunAsync(env, "function", "show", id.ToString(), "--json");
            var view = ProtocolJson.Deserialize<FunctionView>(json.Stdout.Trim());
            Assert.Equal((FunctionKind.Python, "area", "area", source, 120.0), (view.Kind, view.Name, view.Entry, view.Source, view.WalltimeSeconds));
            var human = await CliRunner.RunAsync(env, "function", "show", id.ToString());
            Assert.Matches(@"kind\s+python", human.Stdout);
            Assert.Matches(@"entry\s+area", human.Stdout);
            Assert.Matches($@"source\s+4 lines, {source.Length} bytes", human.Stdout);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Submit_passes_python_arguments_as_json_and_shows_the_return_value()
    {
        var source = WriteSource("def f(*a, **k):\n    return 1\n");
        var kwargs = WriteSource("""{"scale": 2.5, "tags": ["a"]}""");
        try
        {
            var id = Assert.Single((await CliRunner.RunAsync(env, "function", "register-python", source, "--entry", "f")).StdoutLines);

            var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", id, "--args-json", """[1, "two"]""", "--kwargs-json", "@" + kwargs);

            Assert.True(run.ExitCode == 0, run.ToString());
            var sent = Assert.Single(Assert.Single(server.Submits).Tasks);
            Assert.Null(sent.Args);
            Assert.Equal("""[1,"two"]""", sent.PositionalArgs!.ToJsonString());
            Assert.Equal("""{"scale":2.5,"tags":["a"]}""", sent.KeywordArgs!.ToJsonString());
            Assert.Contains("""return {"args":[1,"two"],"kwargs":{"scale":2.5,"tags":["a"]}}""", run.Stdout);
        }
        finally
        {
            File.Delete(source);
            File.Delete(kwargs);
        }
    }

    [Fact]
    public async Task A_raised_exception_fails_the_submission_and_shows_in_its_row()
    {
        var source = WriteSource("def f(**k):\n    pass\n");
        try
        {
            var id = Assert.Single((await CliRunner.RunAsync(env, "function", "register-python", source, "--entry", "f")).StdoutLines);

            var run = await CliRunner.RunAsync(env, "submit", "--endpoint", "ep1", "--function", id, "--kwargs-json", """{"raise": "out of cheese"}""");

            Assert.Equal(1, run.ExitCode);
            Assert.Matches(@"failed\s+.*builtins\.RuntimeError: out of cheese", run.Stdout);
        }
        finally
        {
            File.Delete(source);
        }
    }

    private static string WriteSource(string text)
    {
        var file = Path.Combine(Path.GetTempPath(), $"mep-cli-{Guid.NewGuid():N}");
        File.WriteAllText(file, text);
        return file;
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex TaskIds();
}
