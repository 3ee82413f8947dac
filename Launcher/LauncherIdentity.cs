using Microsoft.Extensions.Options;

namespace Mep.Launcher;

/// <summary>
/// Who the launcher runs as and whom it serves. As root it serves root and the configured client user, and may start
/// UEPs as other users. Otherwise it is a personal launcher: it serves its own uid and starts UEPs only as itself.
/// </summary>
public sealed class LauncherIdentity
{
    public LauncherIdentity(IOptions<LauncherOptions> options)
        : this(options.Value, Native.GetEuid())
    {
    }

    internal LauncherIdentity(LauncherOptions options, uint euid)
    {
        Self = Native.GetUserById(euid) ?? throw new InvalidOperationException($"the launcher's own uid {euid} has no user database entry");
        IsRoot = euid == 0;
        if (IsRoot && options.ClientUser.Length > 0)
        {
            Client = Native.GetUserByName(options.ClientUser)
                ?? throw new InvalidOperationException($"client user '{options.ClientUser}' does not exist");
        }
    }

    public UnixUser Self { get; }

    public bool IsRoot { get; }

    /// <summary>The silo's service account (root launcher only); null when only root may connect.</summary>
    public UnixUser? Client { get; }

    public bool MayConnect(uint peerUid) =>
        IsRoot ? peerUid == 0 || (Client is not null && peerUid == Client.Uid) : peerUid == Self.Uid;
}
