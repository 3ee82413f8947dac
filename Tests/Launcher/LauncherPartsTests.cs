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
}
