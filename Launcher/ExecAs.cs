using System.Globalization;
using System.Text;

namespace Mep.Launcher;

/// <summary>
/// The pre-exec step. For every UEP the launcher runs its own program as
/// <c>mep-launcher --exec-as --user NAME --uid U --gid G --home DIR --umask 077 --no-new-privs 1 -- PROGRAM ARG...</c>
/// with the UEP's environment (base64 in <see cref="EnvironmentVariable"/>, so nothing of it shows in the command
/// line and the step itself runs without the user's variables). Still root, in the child, it marks every descriptor
/// but stdio close-on-exec, starts its own session (the UEP outlives the launcher), sets the umask, drops to the user
/// (supplementary groups from getgrouplist, then real/effective/saved gid and uid) and checks there is no way back,
/// sets no_new_privs, enters the home directory as the user, resets signals and execve()s the program: no shell.
/// Run by anyone else it can only become its caller, so it grants nothing.
/// </summary>
internal static class ExecAs
{
    public const string Mode = "--exec-as";
    public const string EnvironmentVariable = "MEP_EXEC_ENVIRONMENT";

    /// <summary>Exit code when the step itself failed (as env(1) does); 126/127 when execve failed.</summary>
    public const int SetupFailed = 125;

    private const int Enoent = 2;

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
        IReadOnlyList<string> Environment);

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
            "--",
            plan.Program,
        ];
        arguments.AddRange(plan.Arguments);
        return arguments;
    }

    public static string EncodeEnvironment(IReadOnlyList<string> environment) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\0', environment)));

    /// <summary>Reads the plan back, refusing anything the launcher would not have written.</summary>
    public static Plan Parse(IReadOnlyList<string> args, string? encodedEnvironment)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        if (args.Count == 0 || args[i++] != Mode)
        {
            throw new FormatException($"the first argument must be {Mode}");
        }

        string[] names = ["--user", "--uid", "--gid", "--home", "--umask", "--no-new-privs"];
        while (i < args.Count && args[i] != "--")
        {
            if (!names.Contains(args[i]) || i + 1 >= args.Count || !values.TryAdd(args[i], args[i + 1]))
            {
                throw new FormatException($"unexpected argument {RequestValidator.Quote(args[i])}");
            }

            i += 2;
        }

        if (i + 1 >= args.Count || names.Any(n => !values.ContainsKey(n)))
        {
            throw new FormatException($"expected {string.Join(' ', names)} -- PROGRAM [ARG...]");
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
            environment);
    }

    /// <summary>The step itself; returns only when something failed (the message goes to the UEP's stderr).</summary>
    public static int Run(string[] args)
    {
        Plan plan;
        try
        {
            plan = Parse(args, System.Environment.GetEnvironmentVariable(EnvironmentVariable));
            Native.CloseOnExecAboveStderr();
            if (Native.SetSid() < 0)
            {
                throw new IOException("setsid failed");
            }

            Native.Umask(plan.Umask);
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
        catch (Exception e) when (e is IOException or FormatException or OverflowException or ArgumentException)
        {
            Console.Error.WriteLine($"mep-launcher: cannot start the UEP: {ChildSupervisor.OneLine(e.Message)}");
            return SetupFailed;
        }

        Native.ResetSignals();
        var errno = Native.Exec(plan.Program, [plan.Program, .. plan.Arguments], plan.Environment);
        Console.Error.WriteLine($"mep-launcher: cannot execute {plan.Program}: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}");
        return errno == Enoent ? 127 : 126;
    }

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
