using System.Collections.Concurrent;
using Mep.Grains.Endpoints;
using Mep.Identity;
using Mep.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit;
using static Mep.Tests.Identity.MappingPrograms;

namespace Mep.Tests.Identity;

/// <summary>A mapping file followed as it changes, on a real directory with real file system events.</summary>
public sealed class IdentityMappingFileTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly MappingContext Context = MappingContext.ForEndpoint("00000000-0000-4000-8000-00000000000f");
    private static readonly IReadOnlyList<MappingIdentity> Ann = [new(new Dictionary<string, string?> { ["id"] = "i1", ["username"] = "ann@uni.edu" })];
    private readonly string _dir = Directory.CreateTempSubdirectory("mep-mapping-file-").FullName;
    private readonly LogSink _log = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string MappingPath => Path.Combine(_dir, "identity_mapping.json");

    // The periodic check is pushed out of every test's deadline: these changes must come through the watcher.
    private IdentityMappingFile Open() => new(MappingPath, _log, recheckPeriod: TimeSpan.FromHours(1));

    private static string Maps(string prefix) => Mapping(Expression("(.*)@uni\\.edu", prefix + "-{0}"));

    private const string Invalid = """
        [{"DATA_TYPE":"expression_identity_mapping#1.0.0","mappings":[{"source":"{username}","match":"*bad","output":"{0}"}]}]
        """;

    private static async Task<string?> MapAnn(IdentityMappingFile file) => (await file.Current.MapAsync(Ann, Context)).Username;

    private static Task UntilMaps(IdentityMappingFile file, string expected) =>
        Poll.UntilTrue(async () => await MapAnn(file) == expected, Deadline, () => $"{file.Path} never mapped ann to {expected} (last reload error: {file.LastReloadError})");

    [Fact]
    public async Task A_valid_change_is_used_from_the_next_request()
    {
        File.WriteAllText(MappingPath, Maps("a"));
        using var file = Open();
        Assert.Equal("a-ann", await MapAnn(file));
        var firstLoad = file.LastLoadedAt;

        File.WriteAllText(MappingPath, Maps("b"));

        await UntilMaps(file, "b-ann");
        Assert.True(file.LastLoadedAt > firstLoad);
        Assert.Null(file.LastReloadError);
    }

    [Fact]
    public async Task An_invalid_change_keeps_the_previous_mapping_and_reports_document_rule_and_reason()
    {
        File.WriteAllText(MappingPath, Maps("a"));
        using var file = Open();
        var firstLoad = file.LastLoadedAt;

        File.WriteAllText(MappingPath, Invalid);

        await Poll.UntilTrue(() => Task.FromResult(file.LastReloadError is not null), Deadline, () => "no reload error reported");
        Assert.Contains(MappingPath, file.LastReloadError);
        Assert.Contains("document [0].mappings[0]", file.LastReloadError);
        Assert.Contains("*bad", file.LastReloadError);
        Assert.NotNull(file.LastReloadErrorAt);
        Assert.Equal("a-ann", await MapAnn(file));
        Assert.Equal(firstLoad, file.LastLoadedAt);
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("document [0].mappings[0]"));

        // Fixed: the new content is used and the error is gone.
        File.WriteAllText(MappingPath, Maps("c"));
        await UntilMaps(file, "c-ann");
        Assert.Null(file.LastReloadError);
    }

    [Fact]
    public async Task A_file_replaced_by_rename_as_editors_save_is_picked_up()
    {
        File.WriteAllText(MappingPath, Maps("a"));
        using var file = Open();

        var temporary = Path.Combine(_dir, ".identity_mapping.json.swp");
        File.WriteAllText(temporary, Maps("renamed"));
        File.Move(temporary, MappingPath, overwrite: true);

        await UntilMaps(file, "renamed-ann");
    }

    [Fact]
    public async Task Without_file_system_events_the_periodic_check_still_picks_up_a_change()
    {
        File.WriteAllText(MappingPath, Maps("a"));
        using var file = new IdentityMappingFile(MappingPath, _log, debounce: null, recheckPeriod: TimeSpan.FromMilliseconds(100), watch: false);

        File.WriteAllText(MappingPath, Maps("polled"));

        await UntilMaps(file, "polled-ann");
    }

    [Fact]
    public async Task A_deleted_file_keeps_the_mapping_until_it_comes_back()
    {
        File.WriteAllText(MappingPath, Maps("a"));
        using var file = Open();

        File.Delete(MappingPath);
        await Poll.UntilTrue(() => Task.FromResult(file.LastReloadError is not null), Deadline, () => "no reload error reported");
        Assert.Contains("cannot be read", file.LastReloadError);
        Assert.Equal("a-ann", await MapAnn(file));

        File.WriteAllText(MappingPath, Maps("back"));
        await UntilMaps(file, "back-ann");
        Assert.Null(file.LastReloadError);
    }

    [Fact]
    public void A_file_invalid_at_start_is_refused_naming_file_document_rule_and_reason()
    {
        File.WriteAllText(MappingPath, Invalid);

        var e = Assert.Throws<InvalidOperationException>(Open);

        Assert.Contains(MappingPath, e.Message);
        Assert.Contains("document [0].mappings[0]", e.Message);
        Assert.Contains("*bad", e.Message);
    }

    [Fact]
    public void An_endpoint_whose_mapping_file_is_invalid_stops_the_catalog_naming_document_rule_and_reason()
    {
        var endpoint = Path.Combine(_dir, "endpoint");
        TestEndpoint.Write(endpoint, Guid.NewGuid().ToString(), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30), new Dictionary<string, string>());
        File.WriteAllText(Path.Combine(endpoint, "identity_mapping.json"), Invalid);

        var e = Assert.Throws<InvalidOperationException>(() => new EndpointCatalog([endpoint], _log));

        Assert.Contains("identity_mapping.json", e.Message);
        Assert.Contains("document [0].mappings[0]", e.Message);
        Assert.Contains("*bad", e.Message);
    }

    [Fact]
    public async Task An_endpoint_of_the_catalog_follows_its_mapping_file()
    {
        var endpoint = Path.Combine(_dir, "endpoint");
        var id = Guid.NewGuid().ToString();
        TestEndpoint.Write(endpoint, id, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30), new Dictionary<string, string> { ["ann@uni.edu"] = "first" });
        using var catalog = new EndpointCatalog([endpoint], _log);
        var mapping = catalog.Find(id)!.IdentityMapper;
        Assert.Equal("first", await MapAnn(mapping));

        File.WriteAllText(Path.Combine(endpoint, "identity_mapping.json"), Maps("second"));

        await UntilMaps(mapping, "second-ann");
    }

    /// <summary>Collects what is logged, to check what an admin would read.</summary>
    private sealed class LogSink : ILogger
    {
        public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}
