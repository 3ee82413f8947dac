using Mep.Grains.Endpoints;
using Mep.Protocol.Launcher;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Mep.Tests.Limits;

/// <summary>The <c>user_endpoint_limits</c> section of an endpoint's config.yaml, read by the real catalog loader.</summary>
public sealed class UserEndpointLimitsConfigTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("mep-uep-limits-config-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private UserEndpointLimits? Load(string extra)
    {
        TestEndpoint.Write(dir, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), new Dictionary<string, string>(), extra);
        using var endpoint = EndpointCatalog.Load(dir, NullLogger.Instance);
        return endpoint.UserEndpointLimits;
    }

    private string Refusal(string extra) => Assert.Throws<InvalidOperationException>(() => Load(extra)).Message;

    [Fact]
    public void No_section_sends_no_limits()
    {
        Assert.Equal(UserEndpointLimits.None, Load(""));
        Assert.Null(UserEndpointLimits.None.ToRequest());
    }

    [Fact]
    public void Counts_and_sizes_are_read_into_the_launcher_request()
    {
        var limits = Load("""
            user_endpoint_limits:
              max_processes: 512
              max_open_files: 4096
              max_address_space: 16GiB
              memory_max: 8G
              pids_max: 1024
            """)!;
        Assert.Equal(new UepResourceLimits(512, 4096, 16L << 30, 8L << 30, 1024), limits.ToRequest());
        Assert.Equal(new UepResourceLimits(PidsMax: 64), Load("user_endpoint_limits: {pids_max: 64}")!.ToRequest());
        Assert.Equal(new UepResourceLimits(AddressSpaceBytes: 3_000_000_000), Load("user_endpoint_limits: {max_address_space: 3GB}")!.ToRequest());
    }

    [Theory]
    [InlineData("1073741824", 1L << 30)]
    [InlineData("1048576B", 1L << 20)]
    [InlineData("512M", 512L << 20)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("2 GiB", 2L << 30)]
    [InlineData("2G", 2L << 30)]
    [InlineData("1T", 1L << 40)]
    [InlineData("5kB", 5000)]
    [InlineData("5MB", 5_000_000)]
    [InlineData("64K", 65536)]
    public void Sizes_take_binary_and_decimal_units(string text, long bytes) =>
        Assert.Equal(bytes, ByteSizes.Parse(text, "x"));

    [Theory]
    [InlineData("1.5G")]
    [InlineData("-1")]
    [InlineData("G")]
    [InlineData("12 parsecs")]
    [InlineData("99999999999T")]
    public void Sizes_that_are_not_whole_numbers_of_a_unit_are_refused(string text) =>
        Assert.Throws<FormatException>(() => ByteSizes.Parse(text, "x"));

    [Fact]
    public void Bad_values_are_refused_naming_the_key()
    {
        Assert.Contains("user_endpoint_limits.max_processes must be a whole number between 1 and 1073741824, not '0'",
            Refusal("user_endpoint_limits: {max_processes: 0}"));
        Assert.Contains("user_endpoint_limits.max_open_files must be a whole number between 1 and 1073741824, not 'many'",
            Refusal("user_endpoint_limits: {max_open_files: many}"));
        Assert.Contains("user_endpoint_limits.max_address_space: '1.5G' is not a size", Refusal("user_endpoint_limits: {max_address_space: 1.5G}"));
        Assert.Contains("user_endpoint_limits.max_address_space must be at least 1MiB, not '4096'",
            Refusal("user_endpoint_limits: {max_address_space: 4096}"));
        Assert.Contains("user_endpoint_limits.memory_max must be at least 1MiB, not '512K'", Refusal("user_endpoint_limits: {memory_max: 512K}"));
        Assert.Contains("user_endpoint_limits.pids_max must be a whole number between 1 and 1073741824, not '-3'",
            Refusal("user_endpoint_limits: {pids_max: -3}"));
        Assert.Contains("config.yaml", Refusal("user_endpoint_limits: {max_threads: 5}"));
    }
}
