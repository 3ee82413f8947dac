using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Mep.Endpoint;

/// <summary>
/// Where OpenSSL, and .NET's certificate stores on Linux, look for the system's trusted roots (<c>SSL_CERT_FILE</c>,
/// <c>SSL_CERT_DIR</c>). A UEP or worker whose broker is verified against a site CA (<c>Broker.CaFile</c>) points both
/// at that CA at start. Why: on its first TLS handshake .NET builds a chain against the system store and so parses the
/// whole system bundle and certificate directory (about 140 roots, ~50 ms of CPU in each UEP and worker start), although
/// the broker's chain must end in the site CA anyway (<see cref="Mep.Protocol.Tls.PrivateTrust"/>) and these processes
/// make no other TLS connection. Programs started for the user (tasks, python3, endpoint_setup, worker_init, batch
/// jobs) get the values this process was started with: <see cref="ForChild"/>.
/// </summary>
internal static partial class TrustStoreLocation
{
    internal const string FileVariable = "SSL_CERT_FILE";
    internal const string DirectoryVariable = "SSL_CERT_DIR";

    /// <summary>Debian reserves /nonexistent as a path that never exists: a certificate directory with nothing in it.</summary>
    internal const string NoDirectory = "/nonexistent";

    private static (string? File, string? Directory)? _inherited;

    /// <summary>
    /// Makes <paramref name="caFile"/> this process's only trusted roots. Call it once, early, before any TLS and before
    /// other threads start: setenv(3) is not safe against concurrent getenv(3). Does nothing without a CA file.
    /// </summary>
    public static void TrustOnly(string? caFile)
    {
        if (string.IsNullOrEmpty(caFile) || _inherited is not null)
        {
            return;
        }

        _inherited = (Environment.GetEnvironmentVariable(FileVariable), Environment.GetEnvironmentVariable(DirectoryVariable));
        // Native setenv: the store reads these with getenv(3), which Environment.SetEnvironmentVariable does not reach.
        if (SetEnv(FileVariable, Path.GetFullPath(caFile), 1) != 0 || SetEnv(DirectoryVariable, NoDirectory, 1) != 0)
        {
            // Out of memory in libc: the system store is still correct, only slower to load.
            Log.Warn($"could not point {FileVariable} at the broker CA file: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Gives a program started for the user the trust locations this process itself was started with.</summary>
    public static void ForChild(ProcessStartInfo psi)
    {
        if (_inherited is not { } inherited)
        {
            return;
        }

        Set(psi, FileVariable, inherited.File);
        Set(psi, DirectoryVariable, inherited.Directory);
    }

    private static void Set(ProcessStartInfo psi, string name, string? value)
    {
        if (value is null)
        {
            psi.Environment.Remove(name);
        }
        else
        {
            psi.Environment[name] = value;
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
