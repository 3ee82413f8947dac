using System.Net;

namespace Mep.Endpoint;

/// <summary>Who and where tasks run: reported in every result so a user can check the mapping did what they expected.</summary>
internal sealed record ProcessIdentity(string Hostname, int Uid, string Username)
{
    public static ProcessIdentity Current()
    {
        var uid = (int)Native.GetUid();
        // Environment.UserName reads the passwd entry; USER is only a fallback for an account without one.
        var username = Environment.UserName;
        if (string.IsNullOrEmpty(username))
        {
            username = Environment.GetEnvironmentVariable("USER") ?? uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return new ProcessIdentity(Dns.GetHostName(), uid, username);
    }
}
