using System.Diagnostics;
using System.Text.Json.Nodes;
using Mep.Identity;
using Mep.Tests.Infrastructure;
using Xunit;
using static Mep.Tests.Identity.MappingPrograms;

namespace Mep.Tests.Identity;

/// <summary><c>external_identity_mapping#1.0.0</c> documents, run against real programs.</summary>
public sealed class ExternalMappingTests : IDisposable
{
    private const string EndpointId = "6f1c7a52-3b9e-4d7a-9c1e-0000000000aa";
    private static readonly MappingContext Context = MappingContext.ForEndpoint(EndpointId);
    private readonly MappingPrograms _programs = new(Directory.CreateTempSubdirectory("mep-external-").FullName);

    public void Dispose() => Directory.Delete(_programs.Directory, recursive: true);

    private static MappingIdentity Identity(string id, string username, string? status = "used") => new(new Dictionary<string, string?>
    {
        ["id"] = id,
        ["username"] = username,
        ["identity_provider"] = "idp-1",
        ["organization"] = null,
        ["status"] = status,
    });

    private static readonly IReadOnlyList<MappingIdentity> TwoIdentities = [Identity("i1", "ann@uni.edu"), Identity("i2", "ann@lab.gov")];

    [Fact]
    public async Task The_program_gets_its_arguments_then_c_s_a_and_the_identity_set_on_stdin_in_a_clean_environment()
    {
        var program = _programs.Answering("map", Output(("i2", "ann")));
        // An argument with a space and a '$': no shell splits or expands it.
        var mapper = IdentityMapper.Parse(Mapping(External(program, "--site", "x y $HOME")));

        var result = await mapper.MapAsync([.. TwoIdentities, Identity("i3", "old@uni.edu", status: "unused")], Context);

        Assert.Equal("ann", result.Username);
        Assert.Equal(["--site", "x y $HOME", "-c", MappingContext.PosixConnectorId, "-s", EndpointId, "-a"], _programs.Argv("map"));
        var stdin = _programs.Stdin("map");
        Assert.Equal("identity_mapping_input#1.0.0", stdin["DATA_TYPE"]!.GetValue<string>());
        // The set as given, status and nulls included: the program decides what counts.
        var sent = stdin["identities"]!.AsArray().Select(i => i!.AsObject()).ToList();
        Assert.Equal(["i1", "i2", "i3"], sent.Select(i => i["id"]!.GetValue<string>()));
        Assert.Equal("unused", sent[2]["status"]!.GetValue<string>());
        Assert.True(sent[0].ContainsKey("organization"));
        Assert.Null(sent[0]["organization"]);
        Assert.Equal("ann@lab.gov", sent[1]["username"]!.GetValue<string>());

        var env = _programs.Env("map");
        Assert.Contains("PATH=/usr/bin:/bin", env);
        Assert.Contains("LANG=C.UTF-8", env);
        // Nothing of this process's environment leaks (the shell adds PWD, SHLVL and _ itself).
        var ours = Environment.GetEnvironmentVariables().Keys.Cast<string>().Except(["PATH", "LANG", "PWD", "SHLVL", "_", "OLDPWD"]);
        Assert.Empty(env.Select(line => line.Split('=')[0]).Intersect(ours));
    }

    [Fact]
    public async Task Answers_count_in_the_order_the_program_gives_them_and_an_empty_output_is_no_mapping()
    {
        var program = _programs.Answering("map", Output(("i1", ""), ("i2", "second"), ("i1", "first")));
        var result = await IdentityMapper.Parse(Mapping(External(program))).MapAsync(TwoIdentities, Context);

        Assert.Equal("second", result.Username);
        Assert.Equal("i2", result.IdentityId);
        Assert.Equal([("i2", "second", 0, (int?)null), ("i1", "first", 0, null)], result.Candidates.Select(c => (c.IdentityId, c.Username, c.Document, c.Rule)));
        Assert.Empty(result.Failures);
    }

    [Fact]
    public async Task A_program_that_prints_nothing_maps_no_one_without_failing()
    {
        var program = _programs.Write("map", "exit 0");
        var result = await IdentityMapper.Parse(Mapping(External(program))).MapAsync(TwoIdentities, Context);

        Assert.Null(result.Username);
        Assert.Empty(result.Candidates);
        Assert.Empty(result.Failures);
    }

    public static TheoryData<string, string, int, string[]> BrokenAnswers => new()
    {
        // Even with a good answer before it, an unknown id makes the whole answer suspect.
        { "unknown id", Output(("i1", "ann"), ("zz", "mallory")), 0, ["result[1]", "'zz'", "not asked"] },
        { "wrong DATA_TYPE", """{"DATA_TYPE":"identity_mapping_output#2.0.0","result":[{"id":"i1","output":"ann"}]}""", 0, ["DATA_TYPE", "#2.0.0"] },
        { "invalid JSON", """{"DATA_TYPE":"identity_mapping_output#1.0.0","result":[""", 0, ["not valid JSON"] },
        { "not an object", """[{"id":"i1","output":"ann"}]""", 0, ["not a JSON object"] },
        { "output not a string", """{"DATA_TYPE":"identity_mapping_output#1.0.0","result":[{"id":"i1","output":7}]}""", 0, ["result[0]"] },
        { "non-zero exit", Output(("i1", "ann")), 3, ["exited with code 3"] },
    };

    [Theory]
    [MemberData(nameof(BrokenAnswers))]
    public async Task A_broken_answer_makes_the_document_contribute_nothing_and_says_why(string what, string stdout, int exitCode, string[] reason)
    {
        var program = _programs.Answering("map", stdout, exitCode);
        var mapper = IdentityMapper.Parse(Mapping(Expression("nobody", "x"), External(program)));

        var result = await mapper.MapAsync(TwoIdentities, Context);

        Assert.Null(result.Username);
        Assert.Empty(result.Candidates);
        var failure = Assert.Single(result.Failures);
        Assert.Equal(1, failure.Document);
        Assert.True(reason.All(failure.Reason.Contains), $"{what}: {failure.Reason}");
        Assert.Contains(program, failure.Reason);
    }

    [Fact]
    public async Task A_failing_program_s_stderr_is_in_the_reason()
    {
        var program = _programs.Write("map", """
            echo "starting" >&2
            echo "ldap server unreachable" >&2
            exit 2
            """);
        var result = await IdentityMapper.Parse(Mapping(External(program))).MapAsync(TwoIdentities, Context);

        var reason = Assert.Single(result.Failures).Reason;
        Assert.Contains("exited with code 2", reason);
        Assert.Contains("ldap server unreachable", reason);
    }

    [Fact]
    public async Task A_program_that_never_answers_is_killed_with_its_children_after_5_seconds()
    {
        var program = _programs.Write("map", $"""
            sleep 300 &
            echo $! > '{_programs.Directory}/child.pid'
            wait
            """);
        var mapper = IdentityMapper.Parse(Mapping(External(program), Expression("ann@uni\\.edu", "from-expression")));
        var clock = Stopwatch.StartNew();

        var result = await mapper.MapAsync(TwoIdentities, Context);

        clock.Stop();
        // The other document still maps; the program is reported, not waited for beyond its deadline.
        Assert.Equal("from-expression", result.Username);
        Assert.Contains("no answer within 5 s", Assert.Single(result.Failures).Reason);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4.5), TimeSpan.FromSeconds(30));
        var pid = _programs.Pid("map");
        var child = int.Parse(File.ReadAllText(Path.Combine(_programs.Directory, "child.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await Poll.TryUntilAsync(() => Gone(pid) && Gone(child), TimeSpan.FromSeconds(10)), $"program {pid} or its child {child} still runs");
    }

    [Fact]
    public async Task A_program_that_writes_without_end_is_cut_off_at_1_MiB_and_killed()
    {
        var program = _programs.Write("map", "exec yes '{\"DATA_TYPE\":\"identity_mapping_output#1.0.0\"}'");
        var result = await IdentityMapper.Parse(Mapping(External(program))).MapAsync(TwoIdentities, Context);

        Assert.Null(result.Username);
        Assert.Contains("more than 1048576 bytes", Assert.Single(result.Failures).Reason);
        var pid = _programs.Pid("map");
        Assert.True(await Poll.TryUntilAsync(() => Gone(pid), TimeSpan.FromSeconds(10)), $"program {pid} still runs");
    }

    [Fact]
    public async Task Cancelling_the_request_kills_the_program()
    {
        var program = _programs.Write("map", "exec sleep 300");
        var mapper = IdentityMapper.Parse(Mapping(External(program)));
        using var cts = new CancellationTokenSource();

        var mapping = mapper.MapAsync(TwoIdentities, Context, cts.Token);
        var pidFile = Path.Combine(_programs.Directory, "map.env");
        Assert.True(await Poll.TryUntilAsync(() => File.Exists(pidFile), TimeSpan.FromSeconds(10)), "the program did not start");
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => mapping);
        var pid = _programs.Pid("map");
        Assert.True(await Poll.TryUntilAsync(() => Gone(pid), TimeSpan.FromSeconds(10)), $"program {pid} still runs");
    }

    [Fact]
    public async Task An_expression_document_first_wins_over_an_external_one()
    {
        var program = _programs.Answering("map", Output(("i2", "from-program")));
        var result = await IdentityMapper.Parse(Mapping(Expression("(.*)@uni\\.edu", "e-{0}"), External(program))).MapAsync(TwoIdentities, Context);

        Assert.Equal("e-ann", result.Username);
        Assert.Equal("i1", result.IdentityId);
        Assert.Equal([("i1", "e-ann", 0, (int?)0), ("i2", "from-program", 1, null)], result.Candidates.Select(c => (c.IdentityId, c.Username, c.Document, c.Rule)));
    }

    [Fact]
    public async Task An_external_document_first_wins_over_an_expression_one_even_for_a_later_identity()
    {
        var program = _programs.Answering("map", Output(("i2", "from-program")));
        var result = await IdentityMapper.Parse(Mapping(External(program), Expression("(.*)@uni\\.edu", "e-{0}"))).MapAsync(TwoIdentities, Context);

        Assert.Equal("from-program", result.Username);
        Assert.Equal("i2", result.IdentityId);
        Assert.Equal([("i2", "from-program", 0, (int?)null), ("i1", "e-ann", 1, 0)], result.Candidates.Select(c => (c.IdentityId, c.Username, c.Document, c.Rule)));
    }

    public static TheoryData<string, string> BadCommands => new()
    {
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0"}""", "document [1]: command must be a non-empty list" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":[]}""", "document [1]: command must be a non-empty list" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":"/bin/true"}""", "document [1]: command must be a non-empty list" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":[42]}""", "document [1].command[0] must be a non-empty string" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["/bin/true",""]}""", "document [1].command[1] must be a non-empty string" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["true"]}""", "document [1].command[0]: the program 'true' must be an absolute path" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["DIR/missing"]}""", "the program 'DIR/missing' does not exist" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["DIR"]}""", "the program 'DIR' does not exist or is not a file" },
        { """{"DATA_TYPE":"external_identity_mapping#1.0.0","command":["DIR/plain"]}""", "the program 'DIR/plain' is not executable" },
        { """{"DATA_TYPE":"external_identity_mapping#2.0.0","command":["/bin/true"]}""", "document [1]: DATA_TYPE 'external_identity_mapping#2.0.0': version 2.0.0" },
    };

    [Theory]
    [MemberData(nameof(BadCommands))]
    public void A_document_whose_program_cannot_run_is_rejected_when_the_file_loads_naming_document_and_reason(string document, string message)
    {
        File.WriteAllText(Path.Combine(_programs.Directory, "plain"), "#!/bin/sh\n");
        var json = $"[{Expression("x", "y").ToJsonString()},{document.Replace("DIR", _programs.Directory, StringComparison.Ordinal)}]";

        var e = Assert.Throws<FormatException>(() => IdentityMapper.Parse(json));

        Assert.Contains(message.Replace("DIR", _programs.Directory, StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public async Task With_no_identities_the_program_is_not_run()
    {
        var program = _programs.Answering("map", Output(("i1", "ann")));
        var result = await IdentityMapper.Parse(Mapping(External(program))).MapAsync([], Context);

        Assert.Null(result.Username);
        Assert.Empty(result.Failures);
        Assert.False(File.Exists(Path.Combine(_programs.Directory, "map.pid")));
    }
}
