using System.Globalization;
using Mep.Protocol.Launcher;
using YamlDotNet.Serialization;

namespace Mep.Grains.Endpoints;

/// <summary>The <c>user_endpoint_limits</c> section of config.yaml, as written: every value a string, parsed below.</summary>
internal sealed class UserEndpointLimitsSection
{
    [YamlMember(Alias = "max_processes")]
    public string? MaxProcesses { get; set; }

    [YamlMember(Alias = "max_open_files")]
    public string? MaxOpenFiles { get; set; }

    [YamlMember(Alias = "max_address_space")]
    public string? MaxAddressSpace { get; set; }

    [YamlMember(Alias = "memory_max")]
    public string? MemoryMax { get; set; }

    [YamlMember(Alias = "pids_max")]
    public string? PidsMax { get; set; }
}

/// <summary>
/// Resource limits the launcher sets on every user endpoint of an endpoint (config.yaml <c>user_endpoint_limits</c>,
/// every key optional). They bind the UEP and everything it starts (workers, tasks). A limit not set here is the
/// launcher's maximum for it (Launcher:Max...), or none; one above the launcher's maximum makes every start fail.
/// </summary>
/// <param name="MaxProcesses">RLIMIT_NPROC (<c>max_processes</c>): counted by the kernel over all of the user's
/// processes and threads, not only this UEP's.</param>
/// <param name="MaxOpenFiles">RLIMIT_NOFILE (<c>max_open_files</c>), per process.</param>
/// <param name="MaxAddressSpaceBytes">RLIMIT_AS (<c>max_address_space</c>, a size), per process.</param>
/// <param name="MemoryMaxBytes">Memory, RAM and swap, of the UEP's whole process tree (<c>memory_max</c>, a size), in its
/// cgroup: v2 memory.max (with memory.swap.max 0), v1 memory.limit_in_bytes (and memsw).</param>
/// <param name="PidsMax">Processes and threads of the UEP's whole process tree (<c>pids_max</c>), in its cgroup.</param>
public sealed record UserEndpointLimits(
    long? MaxProcesses, long? MaxOpenFiles, long? MaxAddressSpaceBytes, long? MemoryMaxBytes = null, long? PidsMax = null)
{
    public static UserEndpointLimits None { get; } = new(null, null, null);

    private const long MaxCount = 1L << 30;
    private const long MinSize = 1L << 20; // below a MiB nothing starts: surely a unit was forgotten

    /// <summary>What the launcher is asked for; null when nothing is configured.</summary>
    public UepResourceLimits? ToRequest() =>
        this == None ? null : new UepResourceLimits(MaxProcesses, MaxOpenFiles, MaxAddressSpaceBytes, MemoryMaxBytes, PidsMax);

    internal static UserEndpointLimits Read(UserEndpointLimitsSection? section, string configPath)
    {
        if (section is null)
        {
            return None;
        }

        long? Count(string? text, string key)
        {
            if (text is null)
            {
                return null;
            }

            return long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxCount
                ? n
                : throw new InvalidOperationException($"{configPath}: user_endpoint_limits.{key} must be a whole number between 1 and {MaxCount}, not '{text}'");
        }

        long? Size(string? text, string key)
        {
            if (text is null)
            {
                return null;
            }

            long bytes;
            try
            {
                bytes = ByteSizes.Parse(text, $"user_endpoint_limits.{key}");
            }
            catch (FormatException e)
            {
                throw new InvalidOperationException($"{configPath}: {e.Message}", e);
            }

            return bytes >= MinSize
                ? bytes
                : throw new InvalidOperationException($"{configPath}: user_endpoint_limits.{key} must be at least 1MiB, not '{text}'");
        }

        return new UserEndpointLimits(
            Count(section.MaxProcesses, "max_processes"),
            Count(section.MaxOpenFiles, "max_open_files"),
            Size(section.MaxAddressSpace, "max_address_space"),
            Size(section.MemoryMax, "memory_max"),
            Count(section.PidsMax, "pids_max"));
    }
}
