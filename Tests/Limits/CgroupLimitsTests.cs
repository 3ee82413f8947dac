using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Mep.Launcher;
using Mep.Launcher.Cgroups;
using Mep.Protocol.Launcher;
using Mep.Tests.Infrastructure;
using Mep.Tests.Launcher;
using Xunit;

namespace Mep.Tests.Limits;

/// <summary>
/// Resource limits of a UEP through a real root launcher (<see cref="ScratchLauncher"/>) and the real kernel: rlimits in
/// /proc/PID/limits, the UEP in a cgroup of its own (v2 where the machine offers memory and pids there, else v1) with
/// the memory and pids limits asked for, a process tree that cannot grow past pids.max, and the cgroup gone after the
/// UEP. The UEP program is a python script that forks more children than allowed and writes down how many it got.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class CgroupLimitsTests : IAsyncLifetime
{
    private const long MemoryMax = 256L << 20;
    private const int PidsMax = 8;
    private const int ForkAttempts = 40;

    // Forks ForkAttempts children that wait; writes "ok=N failed=M errno=E"; on SIGTERM kills and reaps them, exits 0.
    private const string ForkingUep = """
        import errno, os, signal, sys, time
        sys.stdin.read()
        children, failed, error = [], 0, 0
        for _ in range(40):
            try:
                pid = os.fork()
            except OSError as e:
                failed, error = failed + 1, e.errno
                continue
            if pid == 0:
                signal.pause()
                os._exit(0)
            children.append(pid)
        def stop(signum, frame):
            for child in children:
                os.kill(child, signal.SIGKILL)
            for child in children:
                os.waitpid(child, 0)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        report = os.path.join(os.environ["HOME"], "forks-" + os.environ["MEP_UEP_ID"])
        with open(report + ".tmp", "w") as f:
            f.write("ok=%d failed=%d errno=%d" % (len(children), failed, error))
        os.rename(report + ".tmp", report)
        while True:
            signal.pause()
        """;

    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(120));
    private readonly string user = ThrowawayUsers.UniqueName("meplc");

    // Readable by the test user, who runs the script from here.
    private readonly string directory = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-cgroup-test-"));

    private string Script => Path.Combine(directory, "uep.py");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(directory, (UnixFileMode)0b111_101_101);
        await File.WriteAllTextAsync(Script, ForkingUep.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(Script, (UnixFileMode)0b110_100_100);
        await ThrowawayUsers.CreateUserAsync(user);
    }

    public async Task DisposeAsync()
    {
        await ThrowawayUsers.DeleteUserAsync(user);
        Directory.Delete(directory, recursive: true);
        timeout.Dispose();
    }

    [Fact]
    public async Task The_uep_tree_runs_in_its_own_cgroup_with_the_limits_asked_for_and_it_is_removed_after_the_uep()
    {
        await using var launcher = await StartLauncherAsync("/usr/bin/python3", Script);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);
        var uepId = Guid.NewGuid().ToString();
        var limits = new UepResourceLimits(Processes: 1000, OpenFiles: 100, AddressSpaceBytes: 4L << 30, MemoryMaxBytes: MemoryMax, PidsMax: PidsMax);

        var answer = await launcher.Client.StartAsync(uepId, user, "{}", limits, timeout.Token);
        var pid = launcher.Track(answer.Pid!.Value);
        var report = Path.Combine(Native.GetUserByName(user)!.Home, $"forks-{uepId}");
        await Infrastructure.Poll.TryUntilAsync(() => File.Exists(report), Timeout.InfiniteTimeSpan, timeout.Token);

        // The script and the children it got are exactly pids.max; the rest of its forks failed with EAGAIN.
        Assert.Equal($"ok={PidsMax - 1} failed={ForkAttempts - PidsMax + 1} errno=11", File.ReadAllText(report));
        Assert.Equal(("1000", "1000"), Limit(pid, "Max processes"));
        Assert.Equal(("100", "100"), Limit(pid, "Max open files"));
        Assert.Equal(((4L << 30).ToString(CultureInfo.InvariantCulture), (4L << 30).ToString(CultureInfo.InvariantCulture)), Limit(pid, "Max address space"));

        var expected = ExpectedCgroups(uepId);
        var membership = File.ReadAllLines($"/proc/{pid}/cgroup");
        if (expected.V2 is { } v2)
        {
            Assert.Contains($"0::/mep/uep-{uepId}", membership);
            Assert.Equal(MemoryMax.ToString(CultureInfo.InvariantCulture), Read(v2, "memory.max"));
            Assert.Equal(PidsMax.ToString(CultureInfo.InvariantCulture), Read(v2, "pids.max"));
            Assert.Equal(PidsMax.ToString(CultureInfo.InvariantCulture), Read(v2, "pids.current"));
            if (File.Exists(Path.Combine(v2, "memory.swap.max")))
            {
                Assert.Equal("0", Read(v2, "memory.swap.max"));
            }

            Assert.Equal($"cgroup v2: {v2} (memory.max {MemoryMax}", answer.ResourceControl![..$"cgroup v2: {v2} (memory.max {MemoryMax}".Length]);
        }
        else
        {
            var (memory, pids) = (expected.V1Memory!, expected.V1Pids!);
            Assert.Single(membership, line => line.Split(':')[1].Split(',').Contains("memory") && line.EndsWith($":/mep/uep-{uepId}", StringComparison.Ordinal));
            Assert.Single(membership, line => line.Split(':')[1].Split(',').Contains("pids") && line.EndsWith($":/mep/uep-{uepId}", StringComparison.Ordinal));
            Assert.Equal(MemoryMax.ToString(CultureInfo.InvariantCulture), Read(memory, "memory.limit_in_bytes"));
            if (File.Exists(Path.Combine(memory, "memory.memsw.limit_in_bytes")))
            {
                Assert.Equal(MemoryMax.ToString(CultureInfo.InvariantCulture), Read(memory, "memory.memsw.limit_in_bytes"));
            }

            Assert.Equal(PidsMax.ToString(CultureInfo.InvariantCulture), Read(pids, "pids.max"));
            Assert.Equal(PidsMax.ToString(CultureInfo.InvariantCulture), Read(pids, "pids.current"));
            Assert.StartsWith($"cgroup v1: {memory} (memory.limit_in_bytes {MemoryMax}", answer.ResourceControl, StringComparison.Ordinal);
            Assert.Contains($"{pids} (pids.max {PidsMax})", answer.ResourceControl, StringComparison.Ordinal);
        }

        // The exit is told after the cgroups are gone.
        await launcher.Client.StopAsync(uepId, "term", timeout.Token);
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((uepId, 0), (exited.UepId, exited.ExitCode));
            break;
        }

        Assert.All(expected.All, path => Assert.False(Directory.Exists(path), $"{path} still exists"));
    }

    [Fact]
    public async Task A_uep_tree_over_its_memory_max_is_killed_in_its_cgroup()
    {
        // Touches 512 MiB (bytearray zero-fills it) under a 128 MiB limit of RAM and swap: the kernel OOM-kills it.
        await using var launcher = await ScratchLauncher.StartAsync(
            ["--Launcher:UepProgram=/usr/bin/python3", "--Launcher:UepProgramArguments:0=-c",
             "--Launcher:UepProgramArguments:1=import time; b = bytearray(512 << 20); time.sleep(600)"],
            timeout.Token);
        await using var watch = await launcher.Client.OpenWatchAsync(timeout.Token);
        var uepId = Guid.NewGuid().ToString();

        var answer = await launcher.Client.StartAsync(uepId, user, "{}", new UepResourceLimits(MemoryMaxBytes: 128L << 20), timeout.Token);
        launcher.Track(answer.Pid!.Value);
        await foreach (var exited in watch.ReadAllAsync(timeout.Token))
        {
            Assert.Equal((uepId, 128 + 9), (exited.UepId, exited.ExitCode));
            break;
        }

        Assert.All(ExpectedCgroups(uepId).All, path => Assert.False(Directory.Exists(path), $"{path} still exists"));
    }

    [Fact]
    public void The_cgroup_parent_setting_is_a_relative_path_of_plain_names()
    {
        var options = new LauncherOptions { SocketPath = "/run/mep/launcher.sock", UepProgram = "/bin/sleep" };
        Assert.True(new LauncherOptionsValidator().Validate(null, options).Succeeded);
        options.Cgroups.Parent = "../system.slice";
        options.MaxPids = 0;
        Assert.Equal(
            ["Launcher:MaxMemoryBytes and MaxPids must be positive when set",
             "Launcher:Cgroups:Parent '../system.slice' must be a relative path of plain names (e.g. mep)"],
            new LauncherOptionsValidator().Validate(null, options).Failures!);
    }

    [Fact]
    public async Task Memory_and_pids_above_the_launchers_maxima_are_refused_and_make_no_cgroup()
    {
        await using var launcher = await StartLauncherAsync("/bin/sleep", "600");
        var uepId = Guid.NewGuid().ToString();

        var memory = await Assert.ThrowsAsync<Mep.Grains.Launching.LauncherException>(() =>
            launcher.Client.StartAsync(uepId, user, "{}", new UepResourceLimits(MemoryMaxBytes: (1L << 30) + 1), timeout.Token));
        Assert.Equal("limits.memory_max_bytes 1073741825 is above the launcher's maximum 1073741824", memory.Message);
        var pids = await Assert.ThrowsAsync<Mep.Grains.Launching.LauncherException>(() =>
            launcher.Client.StartAsync(uepId, user, "{}", new UepResourceLimits(PidsMax: 65), timeout.Token));
        Assert.Equal("limits.pids_max 65 is above the launcher's maximum 64", pids.Message);
        Assert.All(ExpectedCgroups(uepId).All, path => Assert.False(Directory.Exists(path)));

        // Nothing asked: the maxima apply.
        var answer = await launcher.Client.StartAsync(uepId, user, "{}", limits: null, timeout.Token);
        launcher.Track(answer.Pid!.Value);
        var expected = ExpectedCgroups(uepId);
        Assert.Equal((1L << 30).ToString(CultureInfo.InvariantCulture),
            expected.V2 is { } v2 ? Read(v2, "memory.max") : Read(expected.V1Memory!, "memory.limit_in_bytes"));
        Assert.Equal("64", Read(expected.V2 ?? expected.V1Pids!, "pids.max"));
        await launcher.Client.StopAsync(uepId, "kill", timeout.Token);
    }

    [Fact]
    public async Task An_adopted_uep_keeps_its_cgroup_which_goes_at_its_exit_and_old_empty_leftovers_go_at_start()
    {
        await using var launcher = await StartLauncherAsync("/bin/sleep", "600");
        var uepId = Guid.NewGuid().ToString();
        var first = await launcher.Client.StartAsync(uepId, user, "{}", new UepResourceLimits(PidsMax: 5), timeout.Token);
        var pid = launcher.Track(first.Pid!.Value);
        await ProcFiles.WaitForCommandAsync(pid, "sleep", timeout.Token);
        var cgroups = ExpectedCgroups(uepId).All;
        Assert.All(cgroups, path => Assert.True(Directory.Exists(path)));

        // A leftover of a UEP that ended while no launcher ran (an hour old, empty), and one made just now, which may
        // be another launcher's start in progress.
        var (old, young) = (ExpectedCgroups(Guid.NewGuid().ToString()).All, ExpectedCgroups(Guid.NewGuid().ToString()).All);
        foreach (var path in old.Concat(young))
        {
            Directory.CreateDirectory(path);
        }

        foreach (var path in old)
        {
            Directory.SetLastWriteTimeUtc(path, DateTime.UtcNow - TimeSpan.FromHours(1));
        }

        try
        {
            await launcher.Process.KillAsync();
            await launcher.StartAgainAsync(timeout.Token);
            await launcher.Process.WaitForOutputAsync($"Adopted UEP {uepId}", timeout.Token);
            Assert.All(old, path => Assert.False(Directory.Exists(path), $"{path} was not removed"));
            Assert.All(young.Concat(cgroups), path => Assert.True(Directory.Exists(path), $"{path} was removed"));

            // Starting it again finds the adopted process, and says how it is contained as the first start did.
            var again = await launcher.Client.StartAsync(uepId, user, "{}", new UepResourceLimits(PidsMax: 5), timeout.Token);
            Assert.Equal((pid, first.ResourceControl), (again.Pid, again.ResourceControl));
            Assert.StartsWith("cgroup v", first.ResourceControl, StringComparison.Ordinal);

            Native.Kill(pid, Native.SigKill);
            await launcher.Process.WaitForOutputAsync($"Adopted UEP {uepId} ({user}, pid {pid}) exited", timeout.Token);
            Assert.All(cgroups, path => Assert.False(Directory.Exists(path), $"{path} still exists"));
        }
        finally
        {
            foreach (var path in young.Where(Directory.Exists))
            {
                Directory.Delete(path);
            }
        }
    }

    [Fact]
    public async Task The_pre_exec_step_joins_only_a_cgroup_of_its_uep_under_the_parent()
    {
        var uepId = Guid.NewGuid().ToString();
        var expected = ExpectedCgroups(uepId);
        var account = Native.GetUserByName(user)!;
        var other = Path.Combine(Path.GetDirectoryName(expected.All[0])!, $"uep-{Guid.NewGuid()}");
        foreach (var (cgroup, why) in new[]
        {
            (other, $"cgroup {other} is not mep/uep-{uepId} in a mounted cgroup hierarchy"),
            ("/tmp/mep/uep-" + uepId, $"cgroup /tmp/mep/uep-{uepId} is not mep/uep-{uepId} in a mounted cgroup hierarchy"),
            (expected.All[0], $"cgroup {expected.All[0]} is not a directory owned by root"),
        })
        {
            var (program, prefix) = PublicPrograms.CommandIn(LauncherProcess.ProgramDirectory(), "mep-launcher");
            var info = new ProcessStartInfo(program)
            {
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in prefix.Concat(new[]
            {
                "--exec-as", "--user", user, "--uid", account.Uid.ToString(CultureInfo.InvariantCulture),
                "--gid", account.Gid.ToString(CultureInfo.InvariantCulture), "--home", account.Home, "--umask", "77", "--no-new-privs", "1",
                "--cgroup-parent", "mep", "--cgroup", cgroup, "--", "/bin/true",
            }))
            {
                info.ArgumentList.Add(argument);
            }

            info.Environment[ExecAs.EnvironmentVariable] = ExecAs.EncodeEnvironment([$"MEP_UEP_ID={uepId}", "PATH=/bin"]);
            using var step = Process.Start(info)!;
            var stderr = await step.StandardError.ReadToEndAsync(timeout.Token);
            await step.WaitForExitAsync(timeout.Token);
            Assert.Equal((ExecAs.SetupFailed, $"mep-launcher: cannot start the UEP: {why}"), (step.ExitCode, stderr.Trim()));
        }
    }

    [Fact]
    public void Cgroup_hierarchies_are_found_in_mountinfo()
    {
        var hybrid = CgroupMounts.Parse([
            "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw",
            "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory",
            "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
            "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
            "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
        ]);
        var (v2, memory, pids) = CgroupMounts.Find(hybrid);
        Assert.Equal(("/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"), (v2!.MountPoint, memory!.MountPoint, pids!.MountPoint));
        Assert.DoesNotContain("name=systemd", hybrid.Single(m => m.MountPoint.EndsWith("systemd", StringComparison.Ordinal)).Controllers);

        var unified = CgroupMounts.Find(CgroupMounts.Parse(["29 23 0:26 /user.slice /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw"]));
        Assert.Equal(("/sys/fs/cgroup x", "/user.slice", null, null), (unified.V2!.MountPoint, unified.V2.Root, unified.V1Memory, unified.V1Pids));

        Assert.True(CgroupOptions.IsValidParent("mep.slice/ueps"));
        Assert.All(new[] { "", "/mep", "mep/../x", "mep/", "a b", ".." }, p => Assert.False(CgroupOptions.IsValidParent(p)));
    }

    [Fact]
    public void Without_cgroups_a_start_says_so_or_is_refused_when_they_are_required()
    {
        // A launcher that is not root (uid 1, daemon) can make no cgroups: the real decision, on this machine.
        static CgroupManager Manager(bool required)
        {
            var options = new LauncherOptions { Cgroups = new CgroupOptions { Required = required } };
            var manager = new CgroupManager(Microsoft.Extensions.Options.Options.Create(options), new LauncherIdentity(options, 1),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<CgroupManager>.Instance);
            manager.Initialize();
            return manager;
        }

        var uepId = Guid.NewGuid().ToString();
        var placement = Manager(required: false).Create(uepId, new ResourceLimits(null, null, null, MemoryMaxBytes: 1L << 30, PidsMax: 10));
        Assert.Equal(([], "no cgroup: the launcher does not run as root; memory_max and pids_max not enforced"),
            (placement.Paths, placement.Description));
        Assert.Equal("no cgroup: the launcher does not run as root", Manager(required: false).Create(uepId, ResourceLimits.None).Description);

        var refused = Assert.Throws<RequestRefusedException>(() => Manager(required: true).Create(uepId, ResourceLimits.None));
        Assert.Equal("cgroups are required (Launcher:Cgroups:Required) but none can be made: the launcher does not run as root", refused.Message);
    }

    private async Task<ScratchLauncher> StartLauncherAsync(string program, string argument) =>
        await ScratchLauncher.StartAsync(
            [$"--Launcher:UepProgram={program}", $"--Launcher:UepProgramArguments:0={argument}",
             "--Launcher:MaxMemoryBytes=1073741824", "--Launcher:MaxPids=64"],
            timeout.Token);

    /// <summary>Where the UEP's cgroups must be on this machine: v2 when its root offers memory and pids, else v1.</summary>
    internal static (string? V2, string? V1Memory, string? V1Pids, List<string> All) ExpectedCgroups(string uepId, string parent = "mep")
    {
        var (v2, memory, pids) = CgroupMounts.Find(CgroupMounts.Read());
        var controllers = v2 is null ? [] : File.ReadAllText(Path.Combine(v2.MountPoint, "cgroup.controllers")).Split(' ', StringSplitOptions.TrimEntries);
        if (v2 is not null && controllers.Contains("memory") && controllers.Contains("pids"))
        {
            var path = Path.Combine(v2.MountPoint, parent, $"uep-{uepId}");
            return (path, null, null, [path]);
        }

        Assert.True(memory is not null && pids is not null, "this machine has neither cgroup v2 memory+pids nor v1 memory and pids");
        var (m, p) = (Path.Combine(memory!.MountPoint, parent, $"uep-{uepId}"), Path.Combine(pids!.MountPoint, parent, $"uep-{uepId}"));
        return (null, m, p, [m, p]);
    }

    private static string Read(string cgroup, string file) => File.ReadAllText(Path.Combine(cgroup, file)).Trim();

    private static (string Soft, string Hard) Limit(int pid, string name)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").Single(l => l.StartsWith(name, StringComparison.Ordinal));
        var words = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0], words[1]);
    }
}
