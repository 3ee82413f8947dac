using Xunit;

namespace Mep.Tests.Cli;

/// <summary>Every usage error is one "mep: ..." line on stderr that names the field, nothing on stdout, exit code 2.</summary>
public sealed class CliUsageErrorTests
{
    private const string Fn = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";

    public static TheoryData<string[], string> Cases => new()
    {
        { [], "a command is required" },
        { ["token"], "'mep token' needs a subcommand: issue, key" },
        { ["submit", "--function", Fn, "--token", "t"], "--endpoint" },
        { ["submit", "--endpoint", "e", "--function", "nope", "--token", "t"], "--function 'nope' is not a UUID" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--arg", "foo", "--token", "t"], "--arg 'foo' must be name=value" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--arg", "a=1", "--arg", "a=2", "--token", "t"], "--arg 'a' is given more than once" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--arg", "a-b=1", "--token", "t"], "'a-b' is not an argument name" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--config", "[1]", "--token", "t"], "--config must be a JSON object" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--config", "{bad", "--token", "t"], "--config is not valid JSON" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--config", "@/nonexistent/c.json", "--token", "t"], "--config file '/nonexistent/c.json' cannot be read" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--count", "0", "--token", "t"], "--count 0 must be between 1 and" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--count", "many", "--token", "t"], "--count" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--timeout", "5x", "--token", "t"], "--timeout '5x' is not a duration" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--bogus"], "--bogus" },
        { ["submit", "--endpoint", "e", "--function", Fn], "no token: give --token or --token-file" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--token", "t", "--token-file", "/x"], "give --token or --token-file, not both" },
        { ["task", "get", "nope", "--token", "t"], "task id 'nope' is not a UUID" },
        { ["task", "get", Fn, "--token", "t", "--url", "ftp://example.org"], "--url 'ftp://example.org' is not an http:// or https:// address" },
        { ["task", "get", Fn, "--token-file", "/nonexistent/token"], "--token-file '/nonexistent/token' cannot be read" },
        { ["function", "register-shell", "--command", "echo {x", "--token", "t"], "--command: unclosed '{'" },
        { ["function", "register-shell", "--command", "true", "--walltime", "-3", "--token", "t"], "--walltime" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--arg", "a=1", "--args-json", "[]", "--token", "t"], "give --arg (shell functions) or --args-json / --kwargs-json (Python functions), not both" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--args-json", "{\"a\": 1}", "--token", "t"], "--args-json must be a JSON array" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--kwargs-json", "[1]", "--token", "t"], "--kwargs-json must be a JSON object" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--kwargs-json", "{bad", "--token", "t"], "--kwargs-json is not valid JSON" },
        { ["submit", "--endpoint", "e", "--function", Fn, "--args-json", "@/nonexistent/a.json", "--token", "t"], "--args-json file '/nonexistent/a.json' cannot be read" },
        { ["function", "register-python", "/nonexistent/f.py", "--entry", "f", "--token", "t"], "file '/nonexistent/f.py' cannot be read" },
        { ["function", "register-python", "/dev/null", "--entry", "f", "--token", "t"], "file '/dev/null': must not be empty" },
        { ["function", "register-python", "/etc/passwd", "--entry", "my-f", "--token", "t"], "--entry: 'my-f' is not a Python identifier" },
        { ["function", "register-python", "/etc/passwd", "--token", "t"], "--entry" },
        { ["token", "issue"], "--identity" },
        { ["token", "issue", "--identity", "alice"], "--identity 'alice' has no identity provider" },
        { ["token", "issue", "--identity", "a@b.org", "--identity-id", "x"], "--identity-id 'x' is not a UUID" },
        { ["token", "issue", "--identity", "a@b.org", "--lifetime", "0"], "--lifetime '0' must be a positive duration" },
        { ["token", "issue", "--identity", "a@b.org", "--key-file", "/nonexistent/k"], "--key-file '/nonexistent/k' does not exist" },
        { ["token", "key", "create"], "Required argument missing" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Usage_errors_are_one_line_naming_the_field_with_exit_code_2(string[] args, string expected)
    {
        var run = await CliRunner.RunAsync(args);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Stdout);
        var line = Assert.Single(run.StderrLines);
        Assert.StartsWith("mep: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public async Task Environment_values_are_named_by_their_variable()
    {
        var env = new Dictionary<string, string> { ["MEP_URL"] = "not a url", ["MEP_TOKEN"] = "t" };
        var run = await CliRunner.RunAsync(env, "task", "get", Fn);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("mep: MEP_URL 'not a url' is not an http:// or https:// address", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task An_unreachable_server_is_one_line_naming_the_address()
    {
        var run = await CliRunner.RunAsync("task", "get", Fn, "--token", "t", "--url", "http://127.0.0.1:1");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("mep: cannot reach http://127.0.0.1:1/: ", Assert.Single(run.StderrLines));
    }

    [Fact]
    public async Task Help_is_printed_on_stdout_with_exit_code_0()
    {
        var run = await CliRunner.RunAsync("submit", "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--endpoint", run.Stdout);
        Assert.Contains("--timeout", run.Stdout);
        Assert.Equal("", run.Stderr);
    }
}
