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
public sealed record LauncherRequest(
    LauncherOp Op,
    string? UepId = null,
    string? Username = null,
    string? Stdin = null,
    string? Signal = null);

public sealed record LauncherResponse(
    bool Ok,
    string? Error = null,
    int? Pid = null,
    IReadOnlyList<LauncherChild>? Children = null);

/// <summary>A UEP process the launcher started and still watches.</summary>
public sealed record LauncherChild(string UepId, string Username, int Uid, int Pid, DateTimeOffset StartedAt);

public enum LauncherEventKind
{
    Exited,
}

/// <summary>Pushed to every watching connection when a child ends.</summary>
/// <param name="ExitCode">Process exit code; for a child killed by a signal, 128 + signal number.</param>
/// <param name="StderrTail">The last lines the child wrote to stderr, so a failure can name its cause.</param>
public sealed record LauncherEvent(
    LauncherEventKind Event,
    string UepId,
    string Username,
    int Pid,
    int ExitCode,
    string? StderrTail,
    DateTimeOffset At);
