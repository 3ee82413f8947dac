using System.Runtime.Versioning;
using System.Text;
using Mep.Launcher;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>The launcher's small parts: configuration checks, bounded stderr tail, bounded request lines.</summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherPartsTests
{
    private static LauncherOptions ValidOptions() => new()
    {
        SocketPath = "/run/mep/launcher.sock",
        UepProgram = "/bin/sh",
        UepProgramArguments = ["-c", "exit 0"],
        Environment = new() { ["DOTNET_ROOT"] = "/usr/share/dotnet" },
    };

    private static IReadOnlyList<string> Failures(LauncherOptions options)
    {
        var result = new LauncherOptionsValidator().Validate(null, options);
        return result.Failed ? result.Failures!.ToList() : [];
    }

    [Fact]
    public void A_complete_configuration_is_valid() => Assert.Empty(Failures(ValidOptions()));

    [Fact]
    public void The_defaults_name_the_missing_settings()
    {
        var failures = Failures(new LauncherOptions());
        Assert.Contains("Launcher:SocketPath must be an absolute path", failures);
        Assert.Contains("Launcher:UepProgram must be an absolute path", failures);
    }

    [Fact]
    public void Refuses_unsafe_settings()
    {
        var options = ValidOptions();
        options.MinUid = 0;
        options.UepProgram = "/etc/passwd";
        options.Environment["PATH"] = "/tmp";
        options.ClientUser = "mep-no-such-user";
        var failures = Failures(options);
        Assert.Contains("Launcher:MinUid must be at least 1: the launcher never starts anything as root", failures);
        Assert.Contains("Launcher:UepProgram /etc/passwd is not an executable file", failures);
        Assert.Contains("Launcher:Environment: 'PATH' is not a variable name the admin may set", failures);
        Assert.Contains("Launcher:ClientUser 'mep-no-such-user' does not exist", failures);
    }

    [Fact]
    public void Refuses_a_program_others_can_write()
    {
        var directory = Directory.CreateTempSubdirectory("mep-launcher-parts-");
        try
        {
            var program = Path.Combine(directory.FullName, "uep");
            File.WriteAllText(program, "#!/bin/sh\n");
            File.SetUnixFileMode(program, (UnixFileMode)0b111_111_101); // 0775
            var options = ValidOptions();
            options.UepProgram = program;
            Assert.Contains($"Launcher:UepProgram {program} is writable by group or others", Failures(options));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Stderr_tail_keeps_only_the_last_lines_and_bounds_each_line()
    {
        var tail = new StderrTail(3);
        Assert.Null(tail.Text());
        tail.Append("one\ntwo\nthree\nfo");
        tail.Append("ur\n" + new string('x', 5000) + "\nunfinished");
        var lines = tail.Text()!.Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Equal("four", lines[0]);
        Assert.Equal(new string('x', StderrTail.MaxLineChars) + " [truncated]", lines[1]);
        Assert.Equal("unfinished", lines[2]);
    }

    [Fact]
    public async Task Request_lines_are_split_and_bounded()
    {
        var input = new MemoryStream(Encoding.UTF8.GetBytes("{\"op\":\"list\"}\r\n{\"op\":\"watch\"}\n" + new string('a', 2000) + "\n"));
        var reader = new RequestLineReader(input, 1024);
        Assert.Equal("{\"op\":\"list\"}", Encoding.UTF8.GetString((await reader.ReadLineAsync(CancellationToken.None))!));
        Assert.Equal("{\"op\":\"watch\"}", Encoding.UTF8.GetString((await reader.ReadLineAsync(CancellationToken.None))!));
        await Assert.ThrowsAsync<RequestTooLargeException>(() => reader.ReadLineAsync(CancellationToken.None));

        var empty = new RequestLineReader(new MemoryStream(), 1024);
        Assert.Null(await empty.ReadLineAsync(CancellationToken.None));
    }

    [Fact]
    public void The_pre_exec_plan_round_trips_and_anything_else_is_refused()
    {
        var plan = new ExecAs.Plan("alice", 1234, 1235, "/home/alice", 0b000_111_111, true, "/bin/sh", ["-c", "exit 0"],
            ["HOME=/home/alice", "X=a=b"], new ResourceLimits(100, null, 1L << 32));
        var parsed = ExecAs.Parse(ExecAs.Arguments(plan), ExecAs.EncodeEnvironment(plan.Environment));
        Assert.Equal(plan with { Arguments = parsed.Arguments, Environment = parsed.Environment }, parsed);
        Assert.Equal(plan.Arguments, parsed.Arguments);
        Assert.Equal(plan.Environment, parsed.Environment);

        var arguments = ExecAs.Arguments(plan);
        Assert.Throws<FormatException>(() => ExecAs.Parse(arguments.Skip(1).ToList(), null));
        Assert.Throws<FormatException>(() => ExecAs.Parse([.. arguments[..3], "--shell", "x", .. arguments[3..]], null));
        Assert.Throws<FormatException>(() => ExecAs.Parse([.. arguments[..3], .. arguments[1..]], null)); // --user twice
        Assert.Throws<FormatException>(() => ExecAs.Parse(arguments.TakeWhile(a => a != "--").ToList(), null));
        Assert.Throws<FormatException>(() => ExecAs.Parse(arguments, ExecAs.EncodeEnvironment(["=x"])));
        Assert.Throws<FormatException>(() => ExecAs.Parse([.. arguments[..3], "--nofile", "0", .. arguments[3..]], null));
        Assert.Null(ExecAs.Parse(ExecAs.Arguments(plan with { Limits = ResourceLimits.None }), null).Limits.Processes);
    }

    [Theory]
    [InlineData("077", 0b000_111_111)]
    [InlineData("0022", 0b000_010_010)]
    [InlineData("0", 0)]
    public void Umask_settings_are_octal(string setting, int mask) =>
        Assert.Equal((uint)mask, LauncherOptionsValidator.ParseUmask(setting));

    [Theory]
    [InlineData("")]
    [InlineData("8")]
    [InlineData("7777")]
    [InlineData("0o77")]
    [InlineData("-1")]
    public void Other_umask_settings_are_refused(string setting)
    {
        Assert.Null(LauncherOptionsValidator.ParseUmask(setting));
        var options = ValidOptions();
        options.Umask = setting;
        Assert.Contains("Launcher:Umask must be an octal mode between 000 and 777", Failures(options));
    }
}
