using System.Globalization;
using System.Runtime.Versioning;
using Mep.Grains.Launching;
using Xunit;

namespace Mep.Tests.Launcher;

/// <summary>
/// The real mep-launcher program, run as root with `dotnet mep-launcher.dll` on a socket in a fresh directory,
/// plus two throwaway users: A (with an extra supplementary group) and B. The UEP program is /bin/sh with a fixed
/// script that records who it ran as into a report directory in the user's home.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LauncherFixture : IAsyncLifetime
{
    public const string FixedVariable = "MEP_TEST_FIXED";
    public const string FixedValue = "from-admin-config";
    public const string CanaryVariable = "MEP_LEAK_CANARY";
    public const int StderrTailLines = 20;
    public const int MaxStdinBytes = 65536;

    // Records identity, environment, cwd and stdin, writes 25 stderr lines, then exits 7 or waits for a signal.
    internal const string UepScript = """
        #!/bin/sh
        report="$HOME/report-$MEP_UEP_ID"
        mkdir "$report" || exit 90
        id -u > "$report/uid"
        id -G > "$report/groups"
        env > "$report/env"
        pwd > "$report/pwd"
        cat > "$report/stdin"
        i=1
        while [ "$i" -le 25 ]; do echo "stderr line $i" >&2; i=$((i + 1)); done
        case "$(cat "$report/stdin")" in
          *wait-for-signal*) exec sleep 600 ;;
        esac
        exit 7
        """;

    private LauncherProcess? launcher;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), ThrowawayUsers.UniqueName("mep-launcher-test-"));

    public string SocketPath => Path.Combine(Directory, "launcher.sock");

    public string UserA { get; } = ThrowawayUsers.UniqueName("mepla");

    public string UserB { get; } = ThrowawayUsers.UniqueName("meplb");

    public string ExtraGroup { get; } = ThrowawayUsers.UniqueName("meplg");

    public LauncherClient Client => new(SocketPath);

    /// <summary>The launcher's log so far.</summary>
    public string Output => launcher?.Output ?? "";

    public async Task InitializeAsync()
    {
        // Children run as the test users: they must be able to traverse to the script (mktemp-style dirs are 0700).
        System.IO.Directory.CreateDirectory(Directory, (UnixFileMode)0b111_101_101);
        var script = Path.Combine(Directory, "uep.sh");
        await File.WriteAllTextAsync(script, UepScript.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);

        // Part of the configuration from each source: file, environment, command line.
        var config = Path.Combine(Directory, "launcher.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Launcher": {
                "UepProgram": "/bin/sh",
                "UepProgramArguments": [ "{{script}}" ],
                "ClientUser": "daemon",
                "Environment": { "{{FixedVariable}}": "{{FixedValue}}" }
              }
            }
            """);
        File.SetUnixFileMode(config, (UnixFileMode)0b110_100_100);

        await ThrowawayUsers.CreateGroupAsync(ExtraGroup);
        await ThrowawayUsers.CreateUserAsync(UserA, ExtraGroup);
        await ThrowawayUsers.CreateUserAsync(UserB);

        launcher = LauncherProcess.Start(
            ["--config", config, $"--Launcher:SocketPath={SocketPath}"],
            new Dictionary<string, string>
            {
                [CanaryVariable] = "must-not-reach-the-uep",
                ["MEP_SECRET"] = "must-not-reach-the-uep",
                ["LD_LIBRARY_PATH"] = "/nonexistent/mep-test-lib",

                // The loader only warns about a preload it cannot find; it must not reach the UEP either.
                ["LD_PRELOAD"] = "/nonexistent/mep-test-preload.so",
                ["MEP_Launcher__StderrTailLines"] = StderrTailLines.ToString(CultureInfo.InvariantCulture),
                ["MEP_Launcher__MaxStdinBytes"] = MaxStdinBytes.ToString(CultureInfo.InvariantCulture),
            });
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await launcher.WaitUntilListeningAsync(SocketPath, limit.Token);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (launcher is not null)
            {
                await launcher.DisposeAsync();
            }
        }
        finally
        {
            await IgnoreFailure(() => ThrowawayUsers.DeleteUserAsync(UserA));
            await IgnoreFailure(() => ThrowawayUsers.DeleteUserAsync(UserB));
            await IgnoreFailure(() => ThrowawayUsers.DeleteGroupAsync(ExtraGroup));
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    /// <summary>Reads a file a UEP wrote into its report directory in <paramref name="user"/>'s home.</summary>
    public static string Report(string user, string uepId, string name) =>
        File.ReadAllText(Path.Combine(Home(user), $"report-{uepId}", name));

    public static string Home(string user) => Mep.Launcher.Native.GetUserByName(user)!.Home;

    public static bool ReportExists(string home, string uepId) => System.IO.Directory.Exists(Path.Combine(home, $"report-{uepId}"));

    private static async Task IgnoreFailure(Func<Task> cleanup)
    {
        try
        {
            await cleanup();
        }
        catch (InvalidOperationException)
        {
            // Best effort: a failed cleanup must not hide the test result.
        }
    }
}
