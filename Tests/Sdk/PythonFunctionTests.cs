using System.Text.Json.Nodes;
using Mep.Protocol.Api;
using Mep.Protocol.Messages;
using Mep.Sdk;
using Xunit;

namespace Mep.Tests.Sdk;

/// <summary><see cref="PythonFunction"/>, its registration and Python calls through the executor, against the stand-in API.</summary>
public sealed class PythonFunctionTests : IAsyncLifetime
{
    private const string Source = "def add(a, b=0):\n    return a + b\n";
    private StandInApiServer server = null!;
    private MepClient client = null!;

    public async Task InitializeAsync()
    {
        server = await StandInApiServer.StartAsync();
        client = new MepClient(server.BaseAddress, StandInApiServer.Token);
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await server.DisposeAsync();
    }

    [Theory]
    [InlineData("", "add", "source", "source: must not be empty")]
    [InlineData("x = '\0'", "add", "source", "source: contains a NUL character")]
    [InlineData(Source, "a.b", "entry", "entry: 'a.b' is not a Python identifier")]
    [InlineData(Source, "def", "entry", "entry: 'def' is a Python keyword")]
    public void A_bad_function_is_refused_before_any_request(string source, string entry, string parameter, string message)
    {
        var refused = Assert.Throws<ArgumentException>(() => PythonFunction.FromSource(source, entry));

        Assert.Equal(parameter, refused.ParamName);
        Assert.StartsWith(message, refused.Message);
    }

    [Fact]
    public void Unicode_identifiers_are_entries_as_in_python()
    {
        Assert.Equal("größe_2", PythonFunction.FromSource(Source, "größe_2").Entry);
        Assert.Equal("_", PythonFunction.FromSource(Source, "_").Entry);
        Assert.Equal("match", PythonFunction.FromSource(Source, "match").Entry); // a soft keyword is a name
    }

    [Fact]
    public async Task Registering_sends_source_entry_name_and_walltime()
    {
        var view = await client.RegisterFunctionAsync(PythonFunction.FromSource(Source, "add", "adder") with { WalltimeSeconds = 90 });

        var fetched = await client.GetFunctionAsync(view.FunctionId);
        Assert.Equal((FunctionKind.Python, "adder", "add", Source, 90.0), (fetched.Kind, fetched.Name, fetched.Entry, fetched.Source, fetched.WalltimeSeconds));
    }

    [Fact]
    public async Task Call_sends_copies_of_the_arguments_and_returns_the_return_value()
    {
        var function = (await client.RegisterFunctionAsync(PythonFunction.FromSource(Source, "add"))).FunctionId;
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();
        var args = new JsonArray(1, new JsonObject { ["nested"] = true });
        var kwargs = new JsonObject { ["b"] = 2 };

        var call = executor.Call(function, args, kwargs);
        args.Add(3); // after the call: not part of it
        kwargs["b"] = 99;
        var value = await call.Within();

        Assert.Equal("""{"args":[1,{"nested":true}],"kwargs":{"b":2}}""", value!.ToJsonString());
        var sent = Assert.Single(Assert.Single(server.Submits).Tasks);
        Assert.Null(sent.Args);
        Assert.Equal("[1,{\"nested\":true}]", sent.PositionalArgs!.ToJsonString());
    }

    [Fact]
    public async Task A_raised_exception_fails_the_call_with_its_type_message_and_traceback()
    {
        var function = (await client.RegisterFunctionAsync(PythonFunction.FromSource(Source, "add"))).FunctionId;
        var executor = new Executor(client, "ep1");
        await using var stop = executor.Bounded();

        var failure = await Assert.ThrowsAsync<TaskFailedException>(() => executor.Call(function, kwargs: new JsonObject { ["raise"] = "no luck" }).Within());

        Assert.Equal(new PythonException("builtins.RuntimeError", "no luck", "Traceback (most recent call last):\nRuntimeError: no luck\n"), failure.PythonException);
        Assert.Equal($"task {failure.TaskId} failed: builtins.RuntimeError: no luck", failure.Message);
        Assert.Equal(TaskLifecycleState.Failed, failure.Task.State);
    }
}
