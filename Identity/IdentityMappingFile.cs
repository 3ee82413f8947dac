using Microsoft.Extensions.Logging;

namespace Mep.Identity;

/// <summary>
/// The identity mapping file, followed as it changes by <see cref="WatchedFile{T}"/> (see there for how): a valid change
/// becomes <see cref="Current"/> for the next request, with no restart; an invalid one is logged, reported in
/// <see cref="LastReloadError"/>, and the previous mapping stays. A reloaded mapping's warnings are logged.
/// </summary>
public sealed class IdentityMappingFile : IDisposable
{
    private const string What = "Identity mapping";

    private readonly WatchedFile<IdentityMapper> _file;

    /// <summary>Loads the file; an invalid file throws <see cref="InvalidOperationException"/> naming the file, document, rule and reason.</summary>
    public IdentityMappingFile(string path, ILogger? logger = null, TimeSpan? debounce = null, TimeSpan? recheckPeriod = null)
        : this(path, logger, debounce, recheckPeriod, watch: true)
    {
    }

    /// <param name="watch">False for tests of the periodic check alone (as on a file system without events).</param>
    internal IdentityMappingFile(string path, ILogger? logger, TimeSpan? debounce, TimeSpan? recheckPeriod, bool watch) =>
        _file = new WatchedFile<IdentityMapper>(path, What, IdentityMapper.Parse, mapper => mapper.Warnings, logger, debounce, recheckPeriod, watch);

    public string Path => _file.Path;

    /// <summary>The mapper of the last valid content; read it per request.</summary>
    public IdentityMapper Current => _file.Current;

    /// <summary>When <see cref="Current"/> was loaded.</summary>
    public DateTimeOffset LastLoadedAt => _file.LastLoadedAt;

    /// <summary>Why the file's present content is not in use (null when it is), for readiness checks.</summary>
    public string? LastReloadError => _file.LastReloadError;

    /// <summary>When <see cref="LastReloadError"/> was found.</summary>
    public DateTimeOffset? LastReloadErrorAt => _file.LastReloadErrorAt;

    public void Dispose() => _file.Dispose();
}
