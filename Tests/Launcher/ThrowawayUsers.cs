using System.Diagnostics;

namespace Mep.Tests.Launcher;

/// <summary>Real Unix users and groups for a test (needs root), removed again with userdel -r / groupdel.</summary>
internal static class ThrowawayUsers
{
    public static string UniqueName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    public static async Task CreateGroupAsync(string name) => await RunAsync("groupadd", name);

    /// <summary>Creates a user with a home directory, its own primary group and the given supplementary groups.</summary>
    public static async Task CreateUserAsync(string name, params string[] supplementaryGroups)
    {
        List<string> arguments = ["--create-home", "--user-group", "--shell", "/bin/sh"];
        if (supplementaryGroups.Length > 0)
        {
            arguments.AddRange(["--groups", string.Join(',', supplementaryGroups)]);
        }

        arguments.Add(name);
        await RunAsync("useradd", [.. arguments]);
    }

    public static async Task DeleteUserAsync(string name) => await RunAsync("userdel", "--remove", "--force", name);

    public static async Task DeleteGroupAsync(string name) => await RunAsync("groupdel", name);

    /// <summary>Runs a tool with an argument list (no shell). Retries while another process holds the passwd lock.</summary>
    public static async Task<string> RunAsync(string program, params string[] arguments)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var info = new ProcessStartInfo(program)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode == 0)
            {
                return await stdout;
            }

            // Other tests may add users at the same time: useradd then fails to lock /etc/passwd.
            var error = await stderr;
            if (!error.Contains("lock", StringComparison.OrdinalIgnoreCase) || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
            }

            await Task.Delay(100); // back off before retrying the lock, bounded by the deadline
        }
    }
}
