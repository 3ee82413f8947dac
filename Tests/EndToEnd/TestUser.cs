using System.Diagnostics;

namespace Mep.Tests.EndToEnd;

/// <summary>A throwaway Unix account, created with useradd and removed with userdel -r on dispose.</summary>
public sealed class TestUser : IDisposable
{
    private TestUser(string name, int uid)
    {
        Name = name;
        Uid = uid;
    }

    public string Name { get; }

    public int Uid { get; }

    /// <summary>The home directory useradd created (from the passwd entry).</summary>
    public string Home => Run("getent", "passwd", Name).Split(':')[5];

    public static TestUser Create(string prefix)
    {
        var name = $"{prefix}{Guid.NewGuid().ToString("N")[..8]}";
        Run("useradd", "--create-home", "--shell", "/bin/sh", name);
        return new TestUser(name, int.Parse(Run("id", "-u", name).Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Creates the account unless it exists (for the shared service account).</summary>
    public static void EnsureSystemAccount(string name)
    {
        if (Process.Start(new ProcessStartInfo("id", ["-u", name]) { RedirectStandardOutput = true, RedirectStandardError = true }) is { } p)
        {
            p.WaitForExit();
            if (p.ExitCode == 0)
            {
                return;
            }
        }

        Run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name);
    }

    public void Dispose()
    {
        // A UEP may still be exiting as this user; userdel refuses while processes run, so end them first.
        Run("pkill", ["-KILL", "-u", Name], allowFailure: true);
        Run("userdel", ["-r", Name], allowFailure: true);
    }

    internal static string Run(string file, params string[] args) => Run(file, args, allowFailure: false);

    internal static string Run(string file, string[] args, bool allowFailure)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {error}");
        }

        return output;
    }
}
