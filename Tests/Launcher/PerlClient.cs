using System.Diagnostics;
using System.Runtime.Versioning;

namespace Mep.Tests.Launcher;

/// <summary>
/// A minimal launcher client in perl (perl-base is essential on Debian), run as another user so that the launcher
/// sees that user's uid in SO_PEERCRED. Sends one request line and returns the answer line, or "connect failed: ...".
/// </summary>
[SupportedOSPlatform("linux")]
internal static class PerlClient
{
    private const string Script = """
        use IO::Socket::UNIX;
        my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0])
          or do { print "connect failed: $!\n"; exit 0 };
        print $s $ARGV[1] . "\n";
        my $line = <$s>;
        print defined $line ? $line : "eof\n";
        """;

    public static async Task<string> RequestAsync(string user, string socketPath, string requestJson, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("/usr/bin/perl")
        {
            UserName = user,
            WorkingDirectory = "/",
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var argument in new[] { "-e", Script, socketPath, requestJson })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return process.ExitCode == 0
            ? (await stdout).Trim()
            : throw new InvalidOperationException($"perl client failed ({process.ExitCode}): {await stderr}");
    }
}
