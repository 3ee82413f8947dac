using System.ComponentModel.DataAnnotations;

namespace Mep.Silo.Hosting;

/// <summary>Host-level settings of a silo (section <c>Mep</c>, next to the grains' <see cref="Grains.MepOptions"/>).</summary>
public sealed class SiloSettings
{
    /// <summary>Service account to become when started as root; empty: stay as started.</summary>
    public string? RunAs { get; set; } = "mep";

    /// <summary>Where the SQLite database lives (single-node default storage).</summary>
    [Required]
    public string DataDirectory { get; set; } = "/var/lib/mep";

    public ApiSettings Api { get; set; } = new();

    /// <summary>
    /// The Orleans dashboard under <c>/dashboard/</c>, for site admins signed in on the status page. Off by default:
    /// it profiles every grain call of the silo.
    /// </summary>
    public bool Dashboard { get; set; }

    /// <summary>The API's server certificate (<c>Mep:Tls:*</c>).</summary>
    public TlsSettings Tls { get; set; } = new();

    public ClusterSettings Cluster { get; set; } = new();

    /// <summary>sqlite (default, one node) or postgresql (Mep:Database:ConnectionStringFile).</summary>
    public Mep.Silo.Database.DatabaseSettings Database { get; set; } = new();
}

public sealed class ApiSettings
{
    /// <summary>
    /// Kestrel addresses, separated by ';': https (with <see cref="SiloSettings.Tls"/>), or plain http on a loopback
    /// address only (<see cref="ApiBindingValidator"/>).
    /// </summary>
    [Required]
    public string Urls { get; set; } = "https://127.0.0.1:8480";
}

public sealed class ClusterSettings
{
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    public string ServiceId { get; set; } = "mep";

    public string ClusterId { get; set; } = "mep-local";

    /// <summary>This login node's name, the silo's name in the cluster: node launcher grains are placed by it.</summary>
    [Required]
    public string NodeName { get; set; } = Environment.MachineName;

    /// <summary>With the postgresql provider: the address this silo listens on and advertises to the others.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>Mutual TLS between silos and on the gateway (<c>Mep:Cluster:Tls:*</c>), on by default.</summary>
    public ClusterTlsSettings Tls { get; set; } = new();

    /// <summary>Failure detection timing (<c>Mep:Cluster:Membership:*</c>); unset keys keep Orleans' defaults.</summary>
    public MembershipSettings Membership { get; set; } = new();
}
