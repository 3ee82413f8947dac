namespace Mep.Protocol.Launcher;

// The launcher speaks newline-delimited JSON over a Unix domain socket: one request object per line,
// one response object per line. A "watch" request turns the connection into a stream of LauncherEvent lines.

public enum LauncherOp
{
    Start,
    Stop,
    List,
    Watch,
}

/// <summary>A request to the launcher. Which fields are required depends on <see cref="Op"/>.</summary>
/// <param name="UepId">The user endpoint id (a UUID): names the child, one child per id.</param>
/// <param name="Username">Local account to run as (start only). The launcher resolves it itself.</param>
/// <param name="Stdin">The UEP start document (JSON) written to the child's stdin (start only).</param>
/// <param name="Signal">Signal for stop: "term" (default) or "kill".</param>
/// <param name="Limits">Resource limits for the UEP (start only); the launcher refuses values above its own maxima.</param>
/// <param name="Pam">PAM service for the start's account and session management (start only); the launcher refuses a
/// service it does not allow, and may require one whatever the request says.</param>
public sealed record LauncherRequest(
    LauncherOp Op,
    string? UepId = null,
    string? Username = null,
    string? Stdin = null,
    string? Signal = null,
    UepResourceLimits? Limits = null,
    string? Pam = null);

/// <summary>
/// Resource limits (soft and hard) set on a UEP before it runs; it and everything it starts inherit them. Null: the
/// launcher's configured maximum applies, or, when it has none, the launcher's own limit is inherited.
/// </summary>
/// <param name="Processes">RLIMIT_NPROC: the kernel counts every process of the user, not only this UEP's.</param>
/// <param name="OpenFiles">RLIMIT_NOFILE, per process.</param>
/// <param name="AddressSpaceBytes">RLIMIT_AS, per process.</param>
/// <param name="MemoryMaxBytes">Memory (RAM and swap) of the UEP's whole process tree, in its cgroup (v2 memory.max,
/// v1 memory.limit_in_bytes).</param>
/// <param name="PidsMax">Processes and threads of the UEP's whole process tree, in its cgroup (pids.max).</param>
public sealed record UepResourceLimits(
    long? Processes = null,
    long? OpenFiles = null,
    long? AddressSpaceBytes = null,
    long? MemoryMaxBytes = null,
    long? PidsMax = null);

/// <param name="ResourceControl">For a start: how the UEP is contained, e.g. "cgroup v1: /sys/fs/cgroup/memory/mep/uep-…
/// (memory.limit_in_bytes 1073741824), …" or "no cgroup: &lt;reason&gt;", for the silo's audit log.</param>
public sealed record LauncherResponse(
    bool Ok,
    string? Error = null,
    int? Pid = null,
    IReadOnlyList<LauncherChild>? Children = null,
    string? ResourceControl = null);

/// <summary>A UEP process the launcher started and still watches.</summary>
public sealed record LauncherChild(string UepId, string Username, int Uid, int Pid, DateTimeOffset StartedAt);

public enum LauncherEventKind
{
    Exited,
}

/// <summary>Pushed to every watching connection when a child ends.</summary>
/// <param name="ExitCode">Process exit code; for a child killed by a signal, 128 + signal number.</param>
/// <param name="StderrTail">The last lines the child wrote to stderr, so a failure can name its cause.</param>
/// <param name="Reason">Set when the launcher itself stopped the UEP, and why (e.g. its account expired or was deleted).</param>
public sealed record LauncherEvent(
    LauncherEventKind Event,
    string UepId,
    string Username,
    int Pid,
    int ExitCode,
    string? StderrTail,
    DateTimeOffset At,
    string? Reason = null);
