namespace Mep.Launcher;

/// <summary>
/// The launcher's configuration (section <c>Launcher</c>). Everything that decides what runs as whom is fixed here by
/// the administrator; a request can only name a UEP id, a username and the stdin document.
/// </summary>
public sealed class LauncherOptions
{
    public const string Section = "Launcher";

    /// <summary>Absolute path of the Unix domain socket to listen on.</summary>
    public string SocketPath { get; set; } = "";

    /// <summary>
    /// Where the launcher records its running UEPs (created 0700; must be its own and private), so that a restarted
    /// launcher adopts them instead of losing them. Empty: nothing is recorded and stopping the launcher terminates its
    /// UEPs. Under systemd, pair it with KillMode=process so that stopping the unit leaves the UEPs alone.
    /// </summary>
    public string StateDirectory { get; set; } = "";

    /// <summary>Absolute path of the program started for every UEP (for example /usr/bin/dotnet or mep-endpoint).</summary>
    public string UepProgram { get; set; } = "";

    /// <summary>Fixed arguments for <see cref="UepProgram"/>; nothing from a request is ever added.</summary>
    public List<string> UepProgramArguments { get; set; } = [];

    /// <summary>Lowest uid a UEP may run as; keeps system accounts out.</summary>
    public int MinUid { get; set; } = 1000;

    /// <summary>Highest uid a UEP may run as; keeps nobody (65534) and other high system ids out.</summary>
    public int MaxUid { get; set; } = 60000;

    /// <summary>If not empty, only these usernames may be started.</summary>
    public List<string> AllowedUsers { get; set; } = [];

    /// <summary>Usernames that may never be started, even if allowed.</summary>
    public List<string> DeniedUsers { get; set; } = [];

    /// <summary>
    /// Also refuse accounts whose shadow password field starts with '!' (locked with passwd -l / usermod -L). Off by
    /// default: Debian's useradd writes '!' and RHEL's '!!' for every account that never had a password, and sshd
    /// with PAM still lets such users in with keys. An expired account (shadow expiry date reached, the way
    /// usermod -e 1 / chage -E 0 lock an account) is always refused.
    /// </summary>
    public bool RefuseLockedPasswords { get; set; }

    /// <summary>
    /// The silo's service account. When the launcher runs as root it serves this uid and root only, and gives the
    /// socket to this user's primary group. Empty: only root may connect.
    /// </summary>
    public string ClientUser { get; set; } = "";

    /// <summary>Extra fixed variables for every UEP (for example DOTNET_ROOT), from the administrator's config.</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>PATH given to every UEP.</summary>
    public string Path { get; set; } = "/usr/local/bin:/usr/bin:/bin";

    /// <summary>
    /// Set PR_SET_NO_NEW_PRIVS on every UEP: setuid programs and file capabilities then grant nothing to it or its
    /// tasks. Turn off only for sites whose tasks need setuid tools.
    /// </summary>
    public bool NoNewPrivileges { get; set; } = true;

    /// <summary>The umask every UEP starts with, in octal: by default what it creates is the user's alone.</summary>
    public string Umask { get; set; } = "077";

    /// <summary>Highest RLIMIT_NPROC a start request may ask for, and the limit when it asks for none. Null: no maximum.</summary>
    public long? MaxProcesses { get; set; }

    /// <summary>Highest RLIMIT_NOFILE a start request may ask for, and the limit when it asks for none. Null: no maximum.</summary>
    public long? MaxOpenFiles { get; set; }

    /// <summary>Highest RLIMIT_AS (bytes) a start request may ask for, and the limit when it asks for none. Null: no maximum.</summary>
    public long? MaxAddressSpaceBytes { get; set; }

    /// <summary>
    /// How often the accounts of running UEPs are checked again with the start rules (deleted, replaced under another
    /// uid, expired, denied, locked when <see cref="RefuseLockedPasswords"/>): a UEP whose account fails is stopped.
    /// </summary>
    public TimeSpan AccountCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Between SIGTERM and SIGKILL when the launcher stops a UEP whose account may no longer run one.</summary>
    public TimeSpan AccountStopGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>PAM account and session management for UEP starts (section Launcher:Pam).</summary>
    public Pam.PamOptions Pam { get; set; } = new();

    /// <summary>Highest memory (bytes, RAM and swap of the whole UEP tree, in its cgroup) a start request may ask for,
    /// and the limit when it asks for none. Null: no maximum.</summary>
    public long? MaxMemoryBytes { get; set; }

    /// <summary>Highest pids.max (processes and threads of the whole UEP tree, in its cgroup) a start request may ask
    /// for, and the limit when it asks for none. Null: no maximum.</summary>
    public long? MaxPids { get; set; }

    /// <summary>The UEPs' cgroups (Launcher:Cgroups:Parent, Launcher:Cgroups:Required).</summary>
    public Cgroups.CgroupOptions Cgroups { get; set; } = new();

    /// <summary>How many of a child's last stderr lines to keep and report when it exits.</summary>
    public int StderrTailLines { get; set; } = 20;

    /// <summary>Longest request line accepted, in bytes.</summary>
    public int MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest stdin document accepted, in UTF-8 bytes.</summary>
    public int MaxStdinBytes { get; set; } = 512 * 1024;

    /// <summary>How long a connection may take to send a request line.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
