using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mep.Cli.Tls;

/// <summary>
/// The files of <c>mep tls init DIR</c>: <c>ca.pem</c> (the CA certificate clients trust: MEP_CA_FILE), <c>ca.key</c>
/// (0600), <c>server.pem</c> (the server certificate) and <c>server.key</c> (0600; give it to the silo's account).
/// </summary>
internal sealed class TlsDirectory(string path)
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string CaCertificate => Combine("ca.pem");

    public string CaKey => Combine("ca.key");

    public string ServerCertificate => Combine("server.pem");

    public string ServerKey => Combine("server.key");

    /// <summary>
    /// Makes the CA when there is none and a server certificate for <paramref name="names"/> when there is none, or the
    /// one there is no longer serves them (another CA, a missing name, about to expire). Returns what it did, one line each.
    /// </summary>
    public IReadOnlyList<string> Ensure(IReadOnlyCollection<string> names)
    {
        Directory.CreateDirectory(Path);
        var done = new List<string>();
        if (!File.Exists(CaCertificate) || !File.Exists(CaKey))
        {
            using var created = PrivateCa.CreateCa($"MEP private CA {Environment.MachineName} {DateTime.UtcNow:yyyy-MM-dd}");
            Write(CaKey, created.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), PrivateCa.KeyMode);
            Write(CaCertificate, created.ExportCertificatePem(), PrivateCa.PublicMode);
            File.Delete(ServerCertificate); // issued by a CA that is gone
            done.Add($"created CA {CaCertificate} (key {CaKey})");
        }

        using var ca = X509Certificate2.CreateFromPemFile(CaCertificate, CaKey);
        if (File.Exists(ServerCertificate) && File.Exists(ServerKey))
        {
            using var current = X509Certificate2.CreateFromPem(File.ReadAllText(ServerCertificate));
            if (PrivateCa.StillServes(current, ca, names))
            {
                done.Add($"kept server certificate {ServerCertificate} (valid until {current.NotAfter.ToUniversalTime():yyyy-MM-dd})");
                return done;
            }
        }

        using var server = PrivateCa.IssueServer(ca, names);
        Write(ServerKey, server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), PrivateCa.KeyMode);
        Write(ServerCertificate, server.ExportCertificatePem(), PrivateCa.PublicMode);
        done.Add($"issued server certificate {ServerCertificate} (key {ServerKey}) for {string.Join(", ", names)}");
        return done;
    }

    private string Combine(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes beside the target with the final mode at creation, then renames: never readable by others, never half written.</summary>
    private static void Write(string path, string text, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new UsageException("'mep tls init' needs Unix file modes (Linux, macOS)");
        }

        var temporary = $"{path}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode };
        using (var writer = new StreamWriter(new FileStream(temporary, options)))
        {
            writer.Write(text);
            writer.Write('\n');
        }

        File.SetUnixFileMode(temporary, mode); // the umask may have narrowed a public file
        File.Move(temporary, path, overwrite: true);
    }
}
