using Mep.Launcher;
using Mep.Protocol.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The launcher's request checks, against the real user database: root (uid 0), daemon (uid 1) and nobody (65534)
/// exist on every Debian-like system.
/// </summary>
public sealed class LauncherValidationTests
{
    private const string UepId = "0190a1b2-3c4d-8e5f-8a6b-7c8d9e0f1a2b";

    private static RequestValidator Validator(LauncherOptions? options = null, uint euid = 0)
    {
        options ??= new LauncherOptions();
        return new RequestValidator(options, new LauncherIdentity(options, euid));
    }

    private static LauncherRequest Start(string? uepId = UepId, string? username = "nobody", string? stdin = "{}") =>
        new(LauncherOp.Start, uepId, username, stdin);

    private static string Refusal(Action action) => Assert.Throws<RequestRefusedException>(action).Message;

    [Theory]
    [InlineData("0190A1B2-3C4D-8E5F-8A6B-7C8D9E0F1A2B")]
    [InlineData("{0190a1b2-3c4d-8e5f-8a6b-7c8d9e0f1a2b}")]
    [InlineData("0190a1b23c4d8e5f8a6b7c8d9e0f1a2b")]
    [InlineData("0190a1b2-3c4d-8e5f-8a6b-7c8d9e0f1a2b\n")]
    [InlineData("../../etc/passwd")]
    [InlineData("")]
    public void Refuses_uep_ids_that_are_not_canonical_lower_case_uuids(string uepId)
    {
        var message = Refusal(() => Validator().ValidateStart(Start(uepId: uepId)));
        Assert.Contains("is not a canonical lower-case UUID", message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void Refuses_a_missing_uep_id() =>
        Assert.Equal("uep_id is required", Refusal(() => Validator().ValidateStart(Start(uepId: null))));

    [Theory]
    [InlineData("-rf")]
    [InlineData("a b")]
    [InlineData("../x")]
    [InlineData("x;id")]
    [InlineData("1000")]
    [InlineData("nobody\n")]
    [InlineData("")]
    [InlineData("élodie")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefg")] // 33 characters
    public void Refuses_usernames_that_are_not_portable(string username)
    {
        var message = Refusal(() => Validator().ValidateStart(Start(username: username)));
        Assert.EndsWith("is not a valid POSIX username", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_root()
    {
        var options = new LauncherOptions { MinUid = 1 }; // even if an admin lowered the minimum
        Assert.Equal("user 'root' has uid 0; the launcher never starts anything as root",
            Refusal(() => Validator(options).ValidateStart(Start(username: "root"))));
    }

    [Fact]
    public void Refuses_a_system_account_below_the_minimum_uid() =>
        Assert.Equal("user 'daemon' (uid 1) is below the minimum uid 1000",
            Refusal(() => Validator().ValidateStart(Start(username: "daemon"))));

    [Fact]
    public void Refuses_a_uid_below_a_configured_minimum()
    {
        var options = new LauncherOptions { MinUid = 65535, MaxUid = 70000 };
        Assert.Equal("user 'nobody' (uid 65534) is below the minimum uid 65535",
            Refusal(() => Validator(options).ValidateStart(Start(username: "nobody"))));
    }

    [Fact]
    public void Refuses_nobody_above_the_default_maximum_uid() =>
        Assert.Equal("user 'nobody' (uid 65534) is above the maximum uid 60000",
            Refusal(() => Validator().ValidateStart(Start(username: "nobody"))));

    [Fact]
    public void Refuses_an_unknown_user() =>
        Assert.Equal("user 'mep-no-such-user' does not exist",
            Refusal(() => Validator().ValidateStart(Start(username: "mep-no-such-user"))));

    [Fact]
    public void Refuses_a_denied_user_even_if_allowed()
    {
        var options = new LauncherOptions { MaxUid = 70000, AllowedUsers = ["nobody"], DeniedUsers = ["nobody"] };
        Assert.Equal("user 'nobody' is denied by the launcher configuration",
            Refusal(() => Validator(options).ValidateStart(Start(username: "nobody"))));
    }

    [Fact]
    public void Refuses_a_user_missing_from_a_non_empty_allow_list()
    {
        var options = new LauncherOptions { MaxUid = 70000, AllowedUsers = ["someone"] };
        Assert.Equal("user 'nobody' is not in the launcher's allowed users",
            Refusal(() => Validator(options).ValidateStart(Start(username: "nobody"))));
    }

    [Fact]
    public void Refuses_an_oversize_stdin_document_counting_utf8_bytes()
    {
        var options = new LauncherOptions { MaxUid = 70000, MaxStdinBytes = 10 };
        Assert.Equal("stdin document is 12 bytes; the limit is 10",
            Refusal(() => Validator(options).ValidateStart(Start(stdin: "éééééé"))));
        Assert.Equal("stdin document is required for start",
            Refusal(() => Validator(options).ValidateStart(Start(stdin: null))));
    }

    [Fact]
    public void Accepts_a_valid_start_and_resolves_the_account_itself()
    {
        var options = new LauncherOptions { MaxUid = 70000 };
        var command = Validator(options).ValidateStart(Start(username: "nobody", stdin: "{\"a\":1}"));
        Assert.Equal(UepId, command.UepId);
        Assert.Equal(65534u, command.User.Uid);
        Assert.Equal("nobody", command.User.Name);
        Assert.Equal("/nonexistent", command.User.Home);
        Assert.Equal("{\"a\":1}", command.Stdin);
    }

    [Fact]
    public void A_personal_launcher_starts_only_its_own_user()
    {
        var options = new LauncherOptions { MaxUid = 70000 };
        var personal = Validator(options, euid: 65534);
        Assert.Equal("this personal launcher runs endpoints only for user 'nobody', not 'daemon'",
            Refusal(() => personal.ValidateStart(Start(username: "daemon"))));
        Assert.Equal(65534u, personal.ValidateStart(Start(username: "nobody")).User.Uid);
    }

    [Fact]
    public void Only_root_and_the_client_user_may_connect_to_a_root_launcher()
    {
        var options = new LauncherOptions { ClientUser = "daemon" };
        var root = new LauncherIdentity(options, 0);
        Assert.True(root.MayConnect(0));
        Assert.True(root.MayConnect(1));
        Assert.False(root.MayConnect(65534));

        var rootOnly = new LauncherIdentity(new LauncherOptions(), 0);
        Assert.True(rootOnly.MayConnect(0));
        Assert.False(rootOnly.MayConnect(1));

        var personal = new LauncherIdentity(options, 65534);
        Assert.True(personal.MayConnect(65534));
        Assert.False(personal.MayConnect(0));
        Assert.False(personal.MayConnect(1));
    }

    [Fact]
    public void Stop_takes_term_or_kill_and_nothing_else()
    {
        var validator = Validator();
        Assert.Equal(15, validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId)).Signal);
        Assert.Equal(15, validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId, Signal: "term")).Signal);
        Assert.Equal(9, validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId, Signal: "kill")).Signal);
        Assert.Equal("signal 'hup' is not 'term' or 'kill'",
            Refusal(() => validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId, Signal: "hup"))));
        Assert.Equal("field 'stdin' is not allowed for op 'stop'",
            Refusal(() => validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId, Stdin: "{}"))));
    }

    [Fact]
    public void List_and_watch_take_no_arguments() =>
        Assert.Equal("field 'username' is not allowed for op 'list'",
            Refusal(() => Validator().ValidateNoArguments(new LauncherRequest(LauncherOp.List, Username: "nobody"))));

    [Fact]
    public void Limits_are_at_most_the_configured_maxima_which_also_apply_when_none_are_asked_for()
    {
        var options = new LauncherOptions { MaxUid = 70000, MaxOpenFiles = 1024, MaxAddressSpaceBytes = 1L << 32 };
        var validator = Validator(options);
        Assert.Equal(new ResourceLimits(null, 1024, 1L << 32), validator.ValidateStart(Start()).Limits);
        Assert.Equal(new ResourceLimits(50, 64, 1L << 30),
            validator.ValidateStart(Start() with { Limits = new UepResourceLimits(50, 64, 1L << 30) }).Limits);
        Assert.Equal("limits.open_files 4096 is above the launcher's maximum 1024",
            Refusal(() => validator.ValidateStart(Start() with { Limits = new UepResourceLimits(OpenFiles: 4096) })));
        Assert.Equal("limits.processes must be positive",
            Refusal(() => validator.ValidateStart(Start() with { Limits = new UepResourceLimits(Processes: 0) })));
        Assert.Equal("field 'limits' is not allowed for op 'stop'",
            Refusal(() => validator.ValidateStop(new LauncherRequest(LauncherOp.Stop, UepId, Limits: new UepResourceLimits(1)))));
    }
}
