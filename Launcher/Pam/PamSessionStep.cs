using System.Runtime.InteropServices;

namespace Mep.Launcher.Pam;

/// <summary>
/// PAM session management in the pre-exec step (<see cref="ExecAs"/>), still root and before privileges are dropped:
/// pam_setcred(PAM_ESTABLISH_CRED), pam_open_session, then the PAM environment (pam_env) merged into the UEP's.
/// Session modules act on this process, and the UEP inherits it: pam_limits' rlimits, pam_namespace, pam_loginuid.
/// </summary>
/// <remarks>
/// Nobody calls pam_close_session for a UEP that was started: the step execve()s the UEP program and nothing of it
/// stays behind to wait (Globus Compute's multi-user endpoint does the same). Session modules whose work needs a
/// close (pam_systemd, pam_mkhomedir's counterpart, pam_lastlog) therefore do not fit a UEP service. When the step
/// fails after the session opened, it closes the session before it exits.
/// </remarks>
internal static unsafe partial class PamSessionStep
{
    private const int RlimitNproc = 6;
    private const int RlimitNofile = 7;
    private const int RlimitAs = 9;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public nuint Current;
        public nuint Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, RLimit* limit);

    /// <summary>
    /// Opens the session for <paramref name="plan"/>'s user and returns it with the plan the UEP runs under: the PAM
    /// environment added, and the launcher's limits lowered to what the session modules set (PAM can only narrow).
    /// </summary>
    /// <exception cref="PamException">A PAM step failed (the session, if it opened, is closed again).</exception>
    /// <exception cref="IOException">The service file may not be used (checked again: the launcher checked it too).</exception>
    public static (PamTransaction Session, ExecAs.Plan Plan) Open(ExecAs.Plan plan, string service, TextWriter messages)
    {
        if (PamPolicy.ServiceFileProblem(service) is { } problem)
        {
            throw new IOException(problem);
        }

        var before = HardLimits();
        var session = PamTransaction.Start(service, plan.User, (isError, text) =>
            messages.WriteLine($"mep-launcher: PAM{(isError ? " error" : "")}: {ChildSupervisor.OneLine(text)}"));
        try
        {
            session.OpenSession();
            var environment = Merge(plan.Environment, session.Environment());
            return (session, plan with { Environment = environment, Limits = Narrowed(plan.Limits, before, HardLimits()) });
        }
        catch
        {
            session.CloseSession();
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The UEP's environment with the PAM variables added. What the launcher sets itself (HOME, USER, PATH,
    /// MEP_UEP_ID, the admin's Launcher:Environment) stays as the launcher set it.
    /// </summary>
    internal static List<string> Merge(IReadOnlyList<string> environment, IEnumerable<string> fromPam)
    {
        var merged = environment.ToList();
        var names = environment.Select(Name).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in fromPam)
        {
            if (entry.IndexOf('=', StringComparison.Ordinal) >= 1 && names.Add(Name(entry)))
            {
                merged.Add(entry);
            }
        }

        return merged;
    }

    /// <summary>Each limit the launcher would set, at most the hard limit a session module set (if one did).</summary>
    internal static ResourceLimits Narrowed(ResourceLimits limits, Dictionary<int, ulong> before, Dictionary<int, ulong> after)
    {
        long? Narrow(long? value, int resource) =>
            value is { } v && after[resource] != before[resource] && (ulong)v > after[resource] ? (long)after[resource] : value;

        return new ResourceLimits(
            Narrow(limits.Processes, RlimitNproc),
            Narrow(limits.OpenFiles, RlimitNofile),
            Narrow(limits.AddressSpaceBytes, RlimitAs));
    }

    private static string Name(string entry) => entry[..Math.Max(entry.IndexOf('=', StringComparison.Ordinal), 0)];

    private static Dictionary<int, ulong> HardLimits()
    {
        var limits = new Dictionary<int, ulong>();
        foreach (var resource in new[] { RlimitNproc, RlimitNofile, RlimitAs })
        {
            RLimit limit;
            limits[resource] = GetRLimit(resource, &limit) == 0 ? limit.Maximum : ulong.MaxValue;
        }

        return limits;
    }
}
