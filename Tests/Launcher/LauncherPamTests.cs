using System.Runtime.Versioning;
using Mep.Grains.Launching;
using Mep.Launcher;
using Mep.Launcher.Pam;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// PAM for UEP starts, with real libpam and real modules: throwaway users A and B, and PAM service files
/// /etc/pam.d/mep-test-* written by the test (removed after). "deny" refuses B in its account stack (pam_listfile);
/// "session" sets a nofile limit for A (pam_limits) and a variable (pam_env) in its session stack. Each test runs a
/// root launcher of its own (<see cref="ScratchLauncher"/>) whose UEP program is /bin/sleep.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherPamTests : IAsyncLifetime
{
    private const string PamVariable = "MEP_PAM_TEST";
    private const string PamValue = "from-pam-env";
    private const int PamOpenFiles = 4321;

    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(90));
    private readonly string userA = ThrowawayUsers.UniqueName("meppa");
    private readonly string userB = ThrowawayUsers.UniqueName("meppb");
    private readonly string suffix = Guid.NewGuid().ToString("N")[..8];
    private readonly string directory = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-pam-test-"));
    private readonly List<string> serviceFiles = [];

    private string DenyService => $"mep-test-{suffix}-deny";

    private string SessionService => $"mep-test-{suffix}-session";

    private string FailingSessionService => $"mep-test-{suffix}-nosession";

    private string AccessService => $"mep-test-{suffix}-access";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(directory, (UnixFileMode)0b111_101_101);
        await ThrowawayUsers.CreateUserAsync(userA);
        await ThrowawayUsers.CreateUserAsync(userB);
        var denied = WriteFile("denied-users", $"{userB}\n");
        // An address space limit as login nodes set them: far below what the .NET runtime of the pre-exec step reserved.
        var limits = WriteFile("limits.conf", $"""
            {userA} soft nofile {PamOpenFiles}
            {userA} hard nofile {PamOpenFiles}
            {userA} soft as 8000000
            {userA} hard as 9000000
            {userB} soft as 1000000

            """);
        var environment = WriteFile("environment.conf", $"{PamVariable} DEFAULT={PamValue}\n");
        var access = WriteFile("access.conf", $"-:{userB}:{PamTransaction.Tty}\n+:ALL:ALL\n");

        // MEP never calls pam_authenticate; the auth line is what pam_setcred runs.
        WriteService(DenyService, $"""
            auth     required pam_permit.so
            account  optional pam_echo.so account-echo-%u
            account  required pam_listfile.so item=user sense=deny file={denied} onerr=fail
            account  required pam_permit.so
            session  required pam_permit.so
            """);
        WriteService(SessionService, $"""
            auth     required pam_permit.so
            account  required pam_permit.so
            session  required pam_limits.so conf={limits}
            session  required pam_env.so conffile={environment} readenv=0
            """);
        WriteService(AccessService, $"""
            auth     required pam_permit.so
            account  required pam_access.so accessfile={access}
            session  required pam_permit.so
            """);
        WriteService(FailingSessionService, """
            auth     required pam_permit.so
            account  required pam_permit.so
            session  optional pam_echo.so session-echo-%u
            session  required pam_deny.so
            """);
    }

    public async Task DisposeAsync()
    {
        serviceFiles.ForEach(File.Delete);
        await ThrowawayUsers.DeleteUserAsync(userA);
        await ThrowawayUsers.DeleteUserAsync(userB);
        Directory.Delete(directory, recursive: true);
        timeout.Dispose();
    }

    [Fact]
    public async Task The_account_check_refuses_the_denied_user_before_anything_runs_and_starts_the_other()
    {
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={DenyService}"]);

        var refusal = await RefusalAsync(launcher.Client.StartAsync(Guid.NewGuid().ToString(), userB, "{}", DenyService, timeout.Token));
        Assert.StartsWith($"PAM account check (service {DenyService}) refused user {userB}: ", refusal);
        Assert.Empty(await launcher.Client.ListAsync(timeout.Token));

        // What a module says through the conversation is logged (pam_echo sends a text message).
        await launcher.Process.WaitForOutputAsync($"PAM (service {DenyService}) says for user {userB}: account-echo-{userB}", timeout.Token);

        var pid = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", DenyService, timeout.Token));
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        Assert.Equal(Native.GetUserByName(userA)!.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), ProcFiles.Status(pid, "Uid")[0]);

        // Without a service the launcher (PAM not required) starts B: the silo asked for no PAM.
        var withoutPam = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userB, "{}", timeout.Token));
        await ProcFiles.WaitForCommandAsync(withoutPam, "sleep", timeout.Token);
    }

    [Fact]
    public async Task Pam_access_sees_the_start_come_from_the_origin_mep()
    {
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={AccessService}"]);

        var refusal = await RefusalAsync(launcher.Client.StartAsync(Guid.NewGuid().ToString(), userB, "{}", AccessService, timeout.Token));
        Assert.StartsWith($"PAM account check (service {AccessService}) refused user {userB}: ", refusal);
        var pid = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", AccessService, timeout.Token));
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
    }

    [Fact]
    public async Task The_session_sets_pam_limits_and_pam_env_on_the_uep_and_leaves_no_descriptor_behind()
    {
        // The launcher's own maximum (10000) is higher than what pam_limits sets: PAM only narrows.
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={SessionService}", "--Launcher:MaxOpenFiles=10000"]);

        var pid = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", SessionService, timeout.Token));
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);

        Assert.Equal(($"{PamOpenFiles}", $"{PamOpenFiles}"), Limit(pid, "Max open files"));
        Assert.Equal(($"{8000000L * 1024}", $"{9000000L * 1024}"), Limit(pid, "Max address space")); // soft and hard as set
        var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"{PamVariable}={PamValue}", environment);
        Assert.Contains($"HOME={Native.GetUserByName(userA)!.Home}", environment);
        Assert.Equal([0, 1, 2], ProcFiles.Descriptors(pid));
        Assert.Equal(["0000000000000000"], ProcFiles.Status(pid, "CapEff"));

        // Without PAM the same launcher sets its own maximum.
        var plain = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", timeout.Token));
        await ProcFiles.WaitForCommandAsync(plain, "sleep", timeout.Token);
        Assert.Equal(("10000", "10000"), Limit(plain, "Max open files"));
        Assert.Equal(("unlimited", "unlimited"), Limit(plain, "Max address space"));
        Assert.DoesNotContain(PamVariable, File.ReadAllText($"/proc/{plain}/environ"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_space_limit_below_what_the_runtime_reserved_reaches_the_uep_and_not_the_pre_exec_step()
    {
        // 1 GB soft (the hard limit stays): the .NET pre-exec step has more than that mapped, so it takes the limit back
        // as soon as pam_open_session returns (no capability needed for a soft limit) and sets it again at exec.
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={SessionService}"]);

        var pid = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userB, "{}", SessionService, timeout.Token));
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        Assert.Equal(($"{1000000L * 1024}", "unlimited"), Limit(pid, "Max address space"));
    }

    [Fact]
    public async Task A_session_module_that_fails_ends_the_start_with_its_reason_on_stderr()
    {
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={FailingSessionService}"]);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);

        // The account check passes; the session fails in the pre-exec step, which reports it as the UEP's exit.
        var uepId = Guid.NewGuid().ToString();
        var pid = await launcher.Client.StartAsync(uepId, userA, "{}", FailingSessionService, timeout.Token);
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((uepId, pid, ExecAs.SetupFailed), (exited.UepId, exited.Pid, exited.ExitCode));
            Assert.StartsWith($"mep-launcher: PAM: session-echo-{userA}\n"
                + $"mep-launcher: cannot start the UEP: PAM session step (service {FailingSessionService}) refused user {userA}: ",
                exited.StderrTail);
            return;
        }

        Assert.Fail("the watch ended without an exit");
    }

    [Fact]
    public async Task A_service_not_allowed_missing_unsafe_or_badly_named_is_refused()
    {
        var missing = $"mep-test-{suffix}-missing";
        var writable = $"mep-test-{suffix}-writable";
        WriteService(writable, "account required pam_permit.so\n");
        File.SetUnixFileMode(Path.Combine(PamPolicy.ServiceDirectory, writable), (UnixFileMode)0b110_110_100);
        await using var launcher = await StartLauncherAsync(
            [$"--Launcher:Pam:Services:0={DenyService}", $"--Launcher:Pam:Services:1={missing}", $"--Launcher:Pam:Services:2={writable}"]);

        Task<int> Start(string service) => launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", service, timeout.Token);

        Assert.StartsWith($"PAM service '{SessionService}' is not allowed by the launcher", await RefusalAsync(Start(SessionService)));
        Assert.Equal($"PAM service file /etc/pam.d/{missing} does not exist", await RefusalAsync(Start(missing)));
        Assert.Equal($"PAM service file /etc/pam.d/{writable} is writable by group or others", await RefusalAsync(Start(writable)));
        Assert.Equal("PAM service name '../passwd' is not valid", await RefusalAsync(Start("../passwd")));
        Assert.Empty(await launcher.Client.ListAsync(timeout.Token));

        // The silo cannot name a service on any other request either.
        var stop = Mep.Protocol.ProtocolJson.Serialize(new Mep.Protocol.Launcher.LauncherRequest(
            Mep.Protocol.Launcher.LauncherOp.Stop, Guid.NewGuid().ToString(), Pam: DenyService));
        var answer = Mep.Protocol.ProtocolJson.Deserialize<Mep.Protocol.Launcher.LauncherResponse>(
            await PerlClient.RequestAsync("root", launcher.SocketPath, stop, timeout.Token));
        Assert.Equal((false, "field 'pam' is not allowed for op 'stop'"), (answer.Ok, answer.Error));
    }

    [Fact]
    public async Task With_pam_required_a_start_that_names_no_service_goes_through_the_first_one()
    {
        await using var launcher = await StartLauncherAsync([$"--Launcher:Pam:Services:0={DenyService}", "--Launcher:Pam:Required=true"]);

        var refusal = await RefusalAsync(launcher.Client.StartAsync(Guid.NewGuid().ToString(), userB, "{}", timeout.Token));
        Assert.StartsWith($"PAM account check (service {DenyService}) refused user {userB}: ", refusal);
        var pid = launcher.Track(await launcher.Client.StartAsync(Guid.NewGuid().ToString(), userA, "{}", timeout.Token));
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
    }

    [Fact]
    public async Task A_required_service_without_its_file_stops_the_launcher_at_start()
    {
        var missing = $"mep-test-{suffix}-missing";
        var process = LauncherProcess.Start(
            [$"--Launcher:SocketPath={Path.Combine(directory, "launcher.sock")}", "--Launcher:UepProgram=/bin/sleep",
             $"--Launcher:Pam:Services:0={missing}", "--Launcher:Pam:Required=true"]);
        await using (process)
        {
            Assert.Equal(2, await process.WaitForExitAsync(timeout.Token));
            Assert.Contains($"Launcher:Pam:Required: PAM service file /etc/pam.d/{missing} does not exist", process.Output);
        }
    }

    [Fact]
    public void The_pre_exec_step_takes_the_service_on_its_command_line_and_refuses_a_bad_one()
    {
        var plan = new ExecAs.Plan("alice", 1234, 1235, "/home/alice", 0b000_111_111, true, "/bin/sleep", ["600"],
            ["HOME=/home/alice"], ResourceLimits.None, "mep");
        var arguments = ExecAs.Arguments(plan);
        Assert.Equal("mep", ExecAs.Parse(arguments, null).PamService);
        Assert.Null(ExecAs.Parse(ExecAs.Arguments(plan with { PamService = null }), null).PamService);
        var at = arguments.IndexOf("--pam");
        Assert.Throws<FormatException>(() => ExecAs.Parse([.. arguments[..(at + 1)], "../etc/x", .. arguments[(at + 2)..]], null));
        Assert.Throws<FormatException>(() => ExecAs.Parse([.. arguments[..at], "--pam", "a", .. arguments[at..]], null)); // twice
    }

    [Fact]
    public void Session_limits_lower_the_launchers_own_and_the_others_are_kept_as_set()
    {
        var (launcher, others) = PamSessionStep.Split(
            new ResourceLimits(Processes: 100, OpenFiles: 10000, AddressSpaceBytes: null),
            new Dictionary<int, (ulong Soft, ulong Hard)> { [7] = (1024, 4321), [9] = (8UL << 30, 9UL << 30), [6] = (500, 500), [4] = (0, 0) });
        Assert.Equal(new ResourceLimits(100, 4321, null), launcher); // nproc 100 is below PAM's 500: the launcher's stays
        Assert.Equal([(4, 0UL, 0UL), (9, 8UL << 30, 9UL << 30)], others);
    }

    [Fact]
    public void The_pam_environment_adds_variables_but_does_not_replace_the_launchers()
    {
        var merged = PamSessionStep.Merge(["HOME=/home/alice", "PATH=/usr/bin"], ["PATH=/evil", "LANG=C.UTF-8", "=bad", "noequals"]);
        Assert.Equal(["HOME=/home/alice", "PATH=/usr/bin", "LANG=C.UTF-8"], merged);
    }

    [Fact]
    public void The_conversation_answers_no_prompt_and_passes_messages_on()
    {
        var sink = new MessageSink();
        Assert.Equal(PamNative.ConversationError, PamNative.Answer([(4, "welcome"), (1, "Password: ")], sink)); // echo off
        Assert.Equal(PamNative.ConversationError, PamNative.Answer([(2, "login: ")], sink)); // echo on
        Assert.Empty(sink.Received);
        Assert.Equal(PamNative.Success, PamNative.Answer([(4, "welcome"), (3, "quota exceeded")], sink));
        Assert.Equal([(false, "welcome"), (true, "quota exceeded")], sink.Received);
    }

    private async Task<ScratchLauncher> StartLauncherAsync(IEnumerable<string> arguments) =>
        await ScratchLauncher.StartAsync(["--Launcher:UepProgram=/bin/sleep", "--Launcher:UepProgramArguments:0=600", .. arguments], timeout.Token);

    private string WriteFile(string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        return path;
    }

    private void WriteService(string name, string text)
    {
        var path = Path.Combine(PamPolicy.ServiceDirectory, name);
        serviceFiles.Add(path);
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
    }

    // A line of /proc/<pid>/limits: "Max open files            64                   64                   files".
    private static (string Soft, string Hard) Limit(int pid, string name)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").Single(l => l.StartsWith(name, StringComparison.Ordinal));
        var words = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0], words[1]);
    }

    private static async Task<string> RefusalAsync(Task request)
    {
        var e = await Assert.ThrowsAsync<LauncherException>(() => request);
        Assert.False(e.Unavailable, e.Message);
        return e.Message;
    }

    private sealed class MessageSink : IPamMessageSink
    {
        public List<(bool IsError, string Text)> Received { get; } = [];

        public void Message(bool isError, string text) => Received.Add((isError, text));
    }
}
