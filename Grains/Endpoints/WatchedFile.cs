using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mep.Grains.Endpoints;

/// <summary>
/// An admin file (user config template, schema) that follows its changes, as <see cref="Mep.Identity.IdentityMappingFile"/>
/// does for mapping files: the directory is watched (editors write and rename), events are debounced, the content hash
/// decides whether anything changed, and the file is also re-read every <see cref="DefaultRecheckPeriod"/> (shared file
/// systems raise no local events). A valid change becomes <see cref="Current"/> for the next request; an invalid one is
/// logged and the previous content stays. User endpoints already running keep the config rendered when they started.
/// </summary>
/// <typeparam name="T">The loaded form; the loader throws <see cref="InvalidOperationException"/> for invalid content.</typeparam>
public sealed class WatchedFile<T> : IDisposable
    where T : class
{
    public static readonly TimeSpan DefaultDebounce = TimeSpan.FromMilliseconds(200);

    public static readonly TimeSpan DefaultRecheckPeriod = TimeSpan.FromSeconds(10);

    private readonly Func<string, T> _load;
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

    /// <param name="what">How the log names the file, e.g. "User config template".</param>
    /// <param name="load">Reads the file at the path; throws <see cref="InvalidOperationException"/> naming the fault.</param>
    public WatchedFile(string path, string what, Func<string, T> load, ILogger? logger = null, TimeSpan? debounce = null, TimeSpan? recheckPeriod = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        _what = what;
        _load = load;
        _logger = logger ?? NullLogger.Instance;
        _debounce = debounce ?? DefaultDebounce;

        // Hash first: a change between the two reads is then seen as a change and read again.
        _lastSeenHash = SHA256.HashData(File.ReadAllBytes(Path));
        _state = new State(load(Path), DateTimeOffset.UtcNow, null);

        _timer = new Timer(_ => Reload(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var period = recheckPeriod ?? DefaultRecheckPeriod;
        _recheck = new Timer(_ => Reload(), null, period, period);
        _watcher = Watch(period);
        Schedule();
    }

    public string Path { get; }

    /// <summary>The last valid content; read it per request.</summary>
    public T Current => _state.Value;

    public DateTimeOffset LastLoadedAt => _state.LoadedAt;

    /// <summary>Why the file's present content is not in use, or null.</summary>
    public string? LastReloadError => _state.Error;

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
                byte[] hash;
                try
                {
                    hash = SHA256.HashData(File.ReadAllBytes(Path));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _lastSeenHash = null;
                    Fail($"{Path}: cannot be read: {e.Message}");
                    return;
                }

                if (_lastSeenHash is not null && hash.AsSpan().SequenceEqual(_lastSeenHash))
                {
                    return;
                }

                _lastSeenHash = hash;
                T value;
                try
                {
                    value = _load(Path);
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
                {
                    Fail(e.Message);
                    return;
                }

                _state = new State(value, DateTimeOffset.UtcNow, null);
                _logger.LogInformation("{What} {Path} reloaded", _what, Path);
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

        _state = state with { Error = reason };
    }

    private sealed record State(T Value, DateTimeOffset LoadedAt, string? Error);
}
