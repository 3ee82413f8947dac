using System.Runtime.InteropServices;

namespace Mep.Launcher.Pam;

/// <summary>
/// PAM session management in the pre-exec step (<see cref="ExecAs"/>), still root and before privileges are dropped:
/// pam_setcred(PAM_ESTABLISH_CRED), pam_open_session, then the PAM environment (pam_env) merged into the UEP's.
/// Session modules act on this process, and the UEP inherits it (pam_namespace, pam_loginuid …); the rlimits they set
/// (pam_limits) are the exception: see <see cref="Open"/>.
/// </summary>
/// <remarks>
/// Nobody calls pam_close_session for a UEP that was started: the step execve()s the UEP program and nothing of it
/// stays behind to wait (Globus Compute's multi-user endpoint does the same). Session modules whose work needs a
/// close (pam_systemd: its session would end at once; pam_lastlog) therefore do not fit a UEP service. When the step
/// fails after the session opened, it closes the session before it exits.
/// </remarks>
internal static unsafe partial class PamSessionStep
{
    /// <summary>
    /// The GC heap limit of a pre-exec step that opens a PAM session (DOTNET_GCHeapHardLimit, hexadecimal bytes: 256 MiB).
    /// Without one the runtime reserves tens of GB of address space for its heap, and a step whose limits pam_limits
    /// lowered for good (see <see cref="Open"/>) could not go on under a site's RLIMIT_AS of a few GB.
    /// </summary>
    public const string StepHeapLimit = "0x10000000";

    private const int ResourceCount = 16; // RLIMIT_NLIMITS on Linux
    private const int RlimitNproc = 6;
    private const int RlimitNofile = 7;
    private const int RlimitAs = 9;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public nuint Current;
        public nuint Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetRLimit(int resource, RLimit* limit);

    [LibraryImport("libc", EntryPoint = "setrlimit")]
    private static partial int SetRLimit(int resource, RLimit* limit);

    /// <summary>
    /// Opens the session for <paramref name="plan"/>'s user. Returns it, the plan the UEP runs under (the PAM
    /// environment added, the launcher's limits lowered to what the session modules set: PAM only narrows), and the
    /// other limits the modules set, for <see cref="Native.Exec"/> to set last.
    /// </summary>
    /// <remarks>
    /// The rlimits pam_limits sets on this process are taken back at once and set again just before execve: this
    /// process is the .NET runtime, which cannot go on under a site's RLIMIT_AS (it has reserved more address space
    /// than a login node allows a user) or a small RLIMIT_NOFILE. Taking back a lowered hard limit needs
    /// CAP_SYS_RESOURCE, which root in a container may lack: then the step goes on under it, with its heap limited
    /// (<see cref="StepHeapLimit"/>) so that an RLIMIT_AS of about 4 GB or more still leaves it room.
    /// </remarks>
    /// <exception cref="PamException">A PAM step failed (the session, if it opened, is closed again).</exception>
    /// <exception cref="IOException">The service file may not be used (checked again: the launcher checked it too).</exception>
    public static (PamTransaction Session, ExecAs.Plan Plan, List<(int Resource, ulong Soft, ulong Hard)> Limits) Open(
        ExecAs.Plan plan, string service, TextWriter messages)
    {
        if (PamPolicy.ServiceFileProblem(service) is { } problem)
        {
            throw new IOException(problem);
        }

        var guard = new LimitGuard();
        guard.Restore(); // once before, so that no code is left to compile when it runs under the session's limits
        var session = PamTransaction.Start(service, plan.User, (isError, text) =>
            messages.WriteLine($"mep-launcher: PAM{(isError ? " error" : "")}: {ChildSupervisor.OneLine(text)}"));
        try
        {
            session.OpenSession(guard.Restore);
            var environment = Merge(plan.Environment, session.Environment());
            var (limits, others) = Split(plan.Limits, guard.Changed());
            return (session, plan with { Environment = environment, Limits = limits }, others);
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

    /// <summary>
    /// The launcher's limits, each at most the hard limit a session module set for its resource, and the other limits
    /// the modules set (soft and hard as they set them).
    /// </summary>
    internal static (ResourceLimits Launcher, List<(int Resource, ulong Soft, ulong Hard)> Others) Split(
        ResourceLimits limits, IReadOnlyDictionary<int, (ulong Soft, ulong Hard)> changed)
    {
        long? Narrow(long? value, int resource) =>
            value is { } v && changed.TryGetValue(resource, out var set) && (ulong)v > set.Hard ? (long)set.Hard : value;

        var launcher = new ResourceLimits(
            Narrow(limits.Processes, RlimitNproc),
            Narrow(limits.OpenFiles, RlimitNofile),
            Narrow(limits.AddressSpaceBytes, RlimitAs));
        var own = new Dictionary<int, long?>
        {
            [RlimitNproc] = launcher.Processes,
            [RlimitNofile] = launcher.OpenFiles,
            [RlimitAs] = launcher.AddressSpaceBytes,
        };
        var others = changed.Where(c => own.GetValueOrDefault(c.Key) is null)
            .OrderBy(c => c.Key).Select(c => (c.Key, c.Value.Soft, c.Value.Hard)).ToList();
        return (launcher, others);
    }

    private static string Name(string entry) => entry[..Math.Max(entry.IndexOf('=', StringComparison.Ordinal), 0)];

    /// <summary>
    /// The step's rlimits from before the session, and what the session set. <see cref="Restore"/> allocates nothing
    /// and calls only getrlimit/setrlimit, so that it can run under whatever limits pam_limits left.
    /// </summary>
    private sealed class LimitGuard
    {
        private readonly RLimit[] before = new RLimit[ResourceCount];
        private readonly RLimit[] set = new RLimit[ResourceCount];

        public LimitGuard()
        {
            fixed (RLimit* limits = before)
            {
                for (var resource = 0; resource < ResourceCount; resource++)
                {
                    if (GetRLimit(resource, &limits[resource]) != 0)
                    {
                        throw new IOException($"getrlimit({resource}) failed");
                    }
                }
            }

            Array.Copy(before, set, ResourceCount);
        }

        /// <summary>Notes the limits now in force, then puts back the ones from before (a lowered hard limit only with CAP_SYS_RESOURCE).</summary>
        public void Restore()
        {
            fixed (RLimit* limits = set)
            fixed (RLimit* original = before)
            {
                for (var resource = 0; resource < ResourceCount; resource++)
                {
                    GetRLimit(resource, &limits[resource]);
                    SetRLimit(resource, &original[resource]);
                }
            }
        }

        /// <summary>The limits the session changed: resource → (soft, hard).</summary>
        public Dictionary<int, (ulong Soft, ulong Hard)> Changed()
        {
            var changed = new Dictionary<int, (ulong Soft, ulong Hard)>();
            for (var resource = 0; resource < ResourceCount; resource++)
            {
                if (set[resource].Current != before[resource].Current || set[resource].Maximum != before[resource].Maximum)
                {
                    changed[resource] = (set[resource].Current, set[resource].Maximum);
                }
            }

            return changed;
        }
    }
}
