using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mep.Identity;

/// <summary>
/// An admin file that follows its changes; the one implementation shared by every admin file the silo follows
/// (identity mapping through <see cref="IdentityMappingFile"/>, user config template, user config schema). A valid
/// change becomes <see cref="Current"/> for the next request, with no restart; an invalid one is logged, reported in
/// <see cref="LastReloadError"/>, and the previous value stays. The file's directory is watched, not the file, so that
/// an editor's write-and-rename (and a Kubernetes ConfigMap's symlink swap) count too; every event leads, after a
/// short quiet period, to reading the file and comparing its content hash, so events that change nothing cost a read
/// and nothing else. The file is also checked every <see cref="DefaultRecheckPeriod"/>: a shared file system edited
/// from another node raises no local events, and the watch itself can fail (the per-user inotify instance limit).
/// Lives here, not with the grains, because this is the lowest project both the silo and the CLI reference.
/// </summary>
/// <typeparam name="T">The loaded form; the loader throws <see cref="InvalidOperationException"/> for invalid content.</typeparam>
public sealed class WatchedFile<T> : IDisposable
    where T : class
{
    /// <summary>How long the directory must stay quiet before the file is read: an editor's save is several events.</summary>
    public static readonly TimeSpan DefaultDebounce = TimeSpan.FromMilliseconds(200);

    /// <summary>How often the file is read even without events (a hash compare when nothing changed).</summary>
    public static readonly TimeSpan DefaultRecheckPeriod = TimeSpan.FromSeconds(10);

    private readonly Func<byte[], string, T> _load;
    private readonly Func<T, IReadOnlyList<string>>? _warnings;
    private readonly string _what;
    private readonly ILogger _logger;
    private readonly TimeSpan _debounce;
    private readonly FileSystemWatcher? _watcher;
    private readonly Timer _timer;
    private readonly Timer _recheck;
    private readonly Lock _reload = new();
    private volatile State _state;
    private byte[]? _lastSeenHash;
    private bool _disposed;

    /// <summary>For a loader that reads the file itself (a template that also reads its includes).</summary>
    /// <param name="what">How the log names the file, e.g. "User config template".</param>
    /// <param name="load">Reads the file at the path; throws <see cref="InvalidOperationException"/> naming the fault.</param>
    public WatchedFile(string path, string what, Func<string, T> load, ILogger? logger = null, TimeSpan? debounce = null, TimeSpan? recheckPeriod = null)
        : this(path, what, (_, p) => load(p), null, logger, debounce, recheckPeriod, watch: true)
    {
    }

    /// <summary>For a loader that parses the very bytes whose hash was taken.</summary>
    /// <param name="what">How the log names the file, e.g. "Identity mapping".</param>
    /// <param name="load">Parses the content read from the path (given for messages); throws <see cref="InvalidOperationException"/> naming the fault.</param>
    /// <param name="warnings">What a reloaded value has to say (logged as warnings); the first load's are the caller's to log.</param>
    public WatchedFile(string path, string what, Func<byte[], string, T> load, Func<T, IReadOnlyList<string>>? warnings = null,
        ILogger? logger = null, TimeSpan? debounce = null, TimeSpan? recheckPeriod = null)
        : this(path, what, load, warnings, logger, debounce, recheckPeriod, watch: true)
    {
    }

    /// <param name="watch">False for tests of the periodic check alone (as on a file system without events).</param>
    internal WatchedFile(string path, string what, Func<byte[], string, T> load, Func<T, IReadOnlyList<string>>? warnings,
        ILogger? logger, TimeSpan? debounce, TimeSpan? recheckPeriod, bool watch)
    {
        Path = System.IO.Path.GetFullPath(path);
        _what = what;
        _load = load;
        _warnings = warnings;
        _logger = logger ?? NullLogger.Instance;
        _debounce = debounce ?? DefaultDebounce;

        // Hash what is loaded; a loader that reads the file again sees a change between the reads as a change later.
        var content = File.ReadAllBytes(Path);
        _lastSeenHash = SHA256.HashData(content);
        _state = new State(load(content, Path), DateTimeOffset.UtcNow, null, null);

        _timer = new Timer(_ => Reload(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var period = recheckPeriod ?? DefaultRecheckPeriod;
        _recheck = new Timer(_ => Reload(), null, period, period);
        _watcher = watch ? Watch(period) : null;
        // A change between the read above and the watch starting would otherwise go unseen.
        Schedule();
    }

    public string Path { get; }

    /// <summary>The last valid content; read it per request.</summary>
    public T Current => _state.Value;

    /// <summary>When <see cref="Current"/> was loaded.</summary>
    public DateTimeOffset LastLoadedAt => _state.LoadedAt;

    /// <summary>Why the file's present content is not in use (null when it is): the log's message, for readiness checks.</summary>
    public string? LastReloadError => _state.Error;

    /// <summary>When <see cref="LastReloadError"/> was found.</summary>
    public DateTimeOffset? LastReloadErrorAt => _state.ErrorAt;

    public void Dispose()
    {
        lock (_reload)
        {
            _disposed = true;
        }

        _watcher?.Dispose();
        _timer.Dispose();
        _recheck.Dispose();
    }

    private FileSystemWatcher? Watch(TimeSpan recheckPeriod)
    {
        var watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(Path)!)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        watcher.Changed += (_, _) => Schedule();
        watcher.Created += (_, _) => Schedule();
        watcher.Deleted += (_, _) => Schedule();
        watcher.Renamed += (_, _) => Schedule();
        // Lost events (a full inotify queue): look at the file anyway.
        watcher.Error += (_, _) => Schedule();
        try
        {
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (IOException e)
        {
            watcher.Dispose();
            _logger.LogWarning("{What} {Path} cannot be watched ({Reason}); changes are seen within {Period} instead", _what, Path, e.Message, recheckPeriod);
            return null;
        }
    }

    private void Schedule()
    {
        try
        {
            // Every event pushes the reload back: it runs once the directory has been quiet for the debounce period.
            _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // An event that raced Dispose.
        }
    }

    private void Reload()
    {
        lock (_reload)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                byte[] content;
                try
                {
                    content = File.ReadAllBytes(Path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Gone or unreadable: whatever comes back next must be read, even the same content.
                    _lastSeenHash = null;
                    Fail($"{Path}: cannot be read: {e.Message}");
                    return;
                }

                var hash = SHA256.HashData(content);
                if (_lastSeenHash is not null && hash.AsSpan().SequenceEqual(_lastSeenHash))
                {
                    return;
                }

                _lastSeenHash = hash;
                T value;
                try
                {
                    value = _load(content, Path);
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
                {
                    Fail(e.Message);
                    return;
                }

                _state = new State(value, DateTimeOffset.UtcNow, null, null);
                _logger.LogInformation("{What} {Path} reloaded", _what, Path);
                foreach (var warning in _warnings?.Invoke(value) ?? [])
                {
                    _logger.LogWarning("{What} {Path}: {Warning}", _what, Path, warning);
                }
            }
            catch (Exception e)
            {
                // A timer callback must not throw (it would end the process); the previous content stays.
                Fail($"{Path}: reload failed: {e.Message}");
            }
        }
    }

    private void Fail(string reason)
    {
        var state = _state;
        if (state.Error != reason)
        {
            _logger.LogError("{What} not reloaded, the previous version stays in use: {Reason}", _what, reason);
        }

        _state = state with { Error = reason, ErrorAt = DateTimeOffset.UtcNow };
    }

    /// <summary>One immutable record, so that a reader never sees a value with another load's times.</summary>
    private sealed record State(T Value, DateTimeOffset LoadedAt, string? Error, DateTimeOffset? ErrorAt);
}
