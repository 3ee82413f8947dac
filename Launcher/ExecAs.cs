using System.Globalization;
using System.Text;

namespace Mep.Launcher;

/// <summary>
/// The pre-exec step. For every UEP the launcher runs its own program as
/// <c>mep-launcher --exec-as --user NAME --uid U --gid G --home DIR --umask 077 --no-new-privs 1 [--nproc N]
/// [--nofile N] [--as BYTES] [--pam SERVICE] [--cgroup-parent P --cgroup DIR...] -- PROGRAM ARG...</c>
/// with the UEP's environment (base64 in <see cref="EnvironmentVariable"/>, so nothing of it shows in the command
/// line and the step itself runs without the user's variables). Still root, in the child, it marks every descriptor
/// but stdio close-on-exec, starts its own session (the UEP outlives the launcher), with --pam opens a PAM session
/// for the user (<see cref="Pam.PamSessionStep"/>: pam_env, and pam_limits' rlimits, set with the others at exec),
/// sets the umask, joins the UEP's cgroups (<see cref="Cgroups.CgroupJoin"/>), raises hard
/// rlimits where a requested one is higher, drops to the user
/// (supplementary groups from getgrouplist, then real/effective/saved gid and uid) and checks there is no way back,
/// sets no_new_privs, enters the home directory as the user, resets signals, sets the rlimits (the launcher's with
/// soft = hard: the user cannot raise them; PAM's as PAM set them) and execve()s the program: no shell.
/// Run by anyone else it can only become its caller, so it grants nothing.
/// </summary>
internal static class ExecAs
{
    public const string Mode = "--exec-as";
    public const string EnvironmentVariable = "MEP_EXEC_ENVIRONMENT";

    /// <summary>Exit code when the step itself failed (as env(1) does); 126/127 when execve failed.</summary>
    public const int SetupFailed = 125;

    private const int Enoent = 2;
    private const int RlimitNproc = 6;
    private const int RlimitNofile = 7;
    private const int RlimitAs = 9;
    private static readonly string[] Required = ["--user", "--uid", "--gid", "--home", "--umask", "--no-new-privs"];
    private static readonly string[] Optional = ["--nproc", "--nofile", "--as", "--pam", "--cgroup-parent"];
    private const string CgroupOption = "--cgroup"; // the one option that may repeat: one per hierarchy

    /// <summary>Everything the step needs, all decided by the launcher from its config and the user database.</summary>
    public sealed record Plan(
        string User,
        uint Uid,
        uint Gid,
        string Home,
        uint Umask,
        bool NoNewPrivileges,
        string Program,
        IReadOnlyList<string> Arguments,
        IReadOnlyList<string> Environment,
        ResourceLimits Limits,
        string? PamService = null,
        string? CgroupParent = null,
        IReadOnlyList<string>? Cgroups = null);

    /// <summary>The command-line arguments after the launcher's own program for <paramref name="plan"/>.</summary>
    public static List<string> Arguments(Plan plan)
    {
        List<string> arguments =
        [
            Mode,
            "--user", plan.User,
            "--uid", plan.Uid.ToString(CultureInfo.InvariantCulture),
            "--gid", plan.Gid.ToString(CultureInfo.InvariantCulture),
            "--home", plan.Home,
            "--umask", Convert.ToString(plan.Umask, 8),
            "--no-new-privs", plan.NoNewPrivileges ? "1" : "0",
        ];
        foreach (var (name, value) in new[] { ("--nproc", plan.Limits.Processes), ("--nofile", plan.Limits.OpenFiles), ("--as", plan.Limits.AddressSpaceBytes) })
        {
            if (value is { } limit)
            {
                arguments.AddRange([name, limit.ToString(CultureInfo.InvariantCulture)]);
            }
        }

        if (plan.PamService is { } service)
        {
            arguments.AddRange(["--pam", service]);
        }

        if (plan.Cgroups is { Count: > 0 } cgroups)
        {
            arguments.AddRange(["--cgroup-parent", plan.CgroupParent ?? ""]);
            foreach (var cgroup in cgroups)
            {
                arguments.AddRange([CgroupOption, cgroup]);
            }
        }

        arguments.AddRange(["--", plan.Program]);
        arguments.AddRange(plan.Arguments);
        return arguments;
    }

    public static string EncodeEnvironment(IReadOnlyList<string> environment) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\0', environment)));

    /// <summary>Reads the plan back, refusing anything the launcher would not have written.</summary>
    public static Plan Parse(IReadOnlyList<string> args, string? encodedEnvironment)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var cgroups = new List<string>();
        var i = 0;
        if (args.Count == 0 || args[i++] != Mode)
        {
            throw new FormatException($"the first argument must be {Mode}");
        }

        while (i < args.Count && args[i] != "--")
        {
            if (args[i] == CgroupOption && i + 1 < args.Count && Path.IsPathFullyQualified(args[i + 1]) && !cgroups.Contains(args[i + 1]))
            {
                cgroups.Add(args[i + 1]);
                i += 2;
                continue;
            }

            if (!(Required.Contains(args[i]) || Optional.Contains(args[i])) || i + 1 >= args.Count || !values.TryAdd(args[i], args[i + 1]))
            {
                throw new FormatException($"unexpected argument {RequestValidator.Quote(args[i])}");
            }

            i += 2;
        }

        if (i + 1 >= args.Count || Required.Any(n => !values.ContainsKey(n)))
        {
            throw new FormatException($"expected {string.Join(' ', Required)} -- PROGRAM [ARG...]");
        }

        var environment = encodedEnvironment is { Length: > 0 }
            ? Encoding.UTF8.GetString(Convert.FromBase64String(encodedEnvironment)).Split('\0')
            : [];
        if (environment.Any(entry => entry.IndexOf('=', StringComparison.Ordinal) < 1))
        {
            throw new FormatException("malformed environment");
        }

        return new Plan(
            values["--user"],
            uint.Parse(values["--uid"], NumberStyles.None, CultureInfo.InvariantCulture),
            uint.Parse(values["--gid"], NumberStyles.None, CultureInfo.InvariantCulture),
            values["--home"],
            Convert.ToUInt32(values["--umask"], 8) is var umask and <= 0x1FF ? umask : throw new FormatException("umask above 0777"),
            values["--no-new-privs"] switch { "1" => true, "0" => false, _ => throw new FormatException("--no-new-privs takes 0 or 1") },
            args[i + 1],
            args.Skip(i + 2).ToList(),
            environment,
            new ResourceLimits(Limit(values, "--nproc"), Limit(values, "--nofile"), Limit(values, "--as")),
            values.TryGetValue("--pam", out var service)
                ? Pam.PamPolicy.IsValidServiceName(service) ? service : throw new FormatException("--pam takes a PAM service name")
                : null,
            values.GetValueOrDefault("--cgroup-parent"),
            cgroups.Count > 0 ? cgroups : null);
    }

    private static long? Limit(Dictionary<string, string> values, string name) =>
        values.TryGetValue(name, out var text)
            ? long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture) is > 0 and var limit ? limit : throw new FormatException($"{name} must be positive")
            : null;

    /// <summary>The step itself; returns only when something failed (the message goes to the UEP's stderr).</summary>
    public static int Run(string[] args)
    {
        var error = Console.Error; // loaded now: under a small RLIMIT_NOFILE it could not be loaded to say what failed
        Plan plan;
        Pam.PamTransaction? session = null;
        List<(int Resource, ulong Soft, ulong Hard)> limits;
        try
        {
            plan = Parse(args, System.Environment.GetEnvironmentVariable(EnvironmentVariable));
            Native.CloseOnExecAboveStderr();
            if (Native.SetSid() < 0)
            {
                throw new IOException("setsid failed");
            }

            limits = Limits(plan.Limits);
            if (plan.PamService is { } service)
            {
                // The limits session modules set (pam_limits) are set again at exec, with the launcher's own.
                (session, plan, var sessionLimits) = Pam.PamSessionStep.Open(plan, service, error);
                limits = [.. Limits(plan.Limits), .. sessionLimits];
                Native.CloseOnExecAboveStderr(); // what the modules opened (syslog, config files) stays behind too
            }

            Native.Umask(plan.Umask);

            // Before dropping privileges (only root may move it) and before exec: nothing of the UEP runs outside.
            Cgroups.CgroupJoin.Join(plan.Cgroups ?? [], plan.CgroupParent,
                plan.Environment.FirstOrDefault(e => e.StartsWith("MEP_UEP_ID=", StringComparison.Ordinal))?["MEP_UEP_ID=".Length..]);
            if (Native.GetEuid() == 0)
            {
                foreach (var (resource, _, hard) in limits)
                {
                    Native.RaiseHardLimit(resource, hard); // only root may, and only the soft limit matters until exec
                }
            }

            DropTo(plan);
            if (plan.NoNewPrivileges
                && (Native.Prctl(Native.PrSetNoNewPrivs, 1, 0, 0, 0) != 0 || Native.Prctl(Native.PrGetNoNewPrivs, 0, 0, 0, 0) != 1))
            {
                throw new IOException("cannot set no_new_privs");
            }

            if (Native.ChDir(plan.Home) != 0)
            {
                throw new IOException($"cannot enter home directory {plan.Home}: {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}");
            }
        }
        catch (Exception e) when (e is IOException or FormatException or OverflowException or ArgumentException
            or Pam.PamException or DllNotFoundException)
        {
            CloseSession(session);
            error.WriteLine($"mep-launcher: cannot start the UEP: {ChildSupervisor.OneLine(e.Message)}");
            return SetupFailed;
        }

        // From here on nothing is left to close the PAM session once execve succeeded (see PamSessionStep).
        Native.ResetSignals();
        var (call, errno) = Native.Exec(plan.Program, [plan.Program, .. plan.Arguments], plan.Environment, limits);
        var reason = System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
        error.WriteLine(call != "execve"
            ? $"mep-launcher: cannot start the UEP: {call} failed: {reason}"
            : $"mep-launcher: cannot execute {plan.Program}: {reason}");

        // Said first: under the limits just set the runtime may not get far. As the user now, so modules that need
        // root to close their part may fail, which leaves it as it was.
        CloseSession(session);
        return call != "execve" ? SetupFailed : errno == Enoent ? 127 : 126;
    }

    private static void CloseSession(Pam.PamTransaction? session)
    {
        session?.CloseSession();
        session?.Dispose();
    }

    private static List<(int Resource, ulong Soft, ulong Hard)> Limits(ResourceLimits limits) =>
        [.. new[] { (RlimitNproc, limits.Processes), (RlimitNofile, limits.OpenFiles), (RlimitAs, limits.AddressSpaceBytes) }
            .Where(l => l.Item2 is not null).Select(l => (l.Item1, (ulong)l.Item2!.Value, (ulong)l.Item2!.Value))];

    private static void DropTo(Plan plan)
    {
        if (plan.Uid == 0 || plan.Gid == 0)
        {
            throw new IOException("refusing to run a UEP as root");
        }

        uint[]? groups = null;
        if (Native.GetEuid() == 0)
        {
            // Groups first, then gid, then uid: each later step removes the right to do the earlier ones.
            groups = Native.GroupList(plan.User, plan.Gid);
            Native.SetGroups(groups);
            Native.SetResGid(plan.Gid);
            Native.SetResUid(plan.Uid);
        }

        // A personal launcher already is the user and cannot change anything; either way, check what we got.
        if (Native.GetResUid() != (plan.Uid, plan.Uid, plan.Uid) || Native.GetResGid() != (plan.Gid, plan.Gid, plan.Gid))
        {
            throw new IOException($"uids/gids are not all {plan.Uid}/{plan.Gid} after dropping privileges");
        }

        if (groups is not null && !Native.GetGroups().Order().SequenceEqual(groups.Distinct().Order()))
        {
            throw new IOException("supplementary groups are not the user's after dropping privileges");
        }

        if (Native.CanBecomeRoot())
        {
            throw new IOException("could become root again after dropping privileges");
        }

        // setresuid away from root clears every capability unless securebits say otherwise: make sure.
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            // Inheritable and bounding sets grant nothing by themselves.
            if ((line.StartsWith("CapPrm:", StringComparison.Ordinal) || line.StartsWith("CapEff:", StringComparison.Ordinal)
                    || line.StartsWith("CapAmb:", StringComparison.Ordinal))
                && !line.EndsWith("0000000000000000", StringComparison.Ordinal))
            {
                throw new IOException($"capabilities left after dropping privileges: {line}");
            }
        }
    }
}
