using Mep.Identity;
using Microsoft.Extensions.Logging;

namespace Mep.Grains.Endpoints;

/// <summary>
/// One endpoint directory whose <c>config.yaml</c> is followed as it changes, like its mapping, template and schema
/// files: a valid change (policies, admins, allowed functions, limits, lifecycle, even which template or mapping file)
/// serves the next request; an invalid one is logged and reported (<see cref="Errors"/>, <c>/readyz</c>) and the
/// previous definition stays. The endpoint's id cannot change while the silo runs: grains and stored state are keyed by it.
/// </summary>
internal sealed class LiveEndpoint : IDisposable
{
    private readonly WatchedFile<EndpointDefinition> _config;
    private EndpointDefinition? _newest;

    public LiveEndpoint(string directory, ILogger logger)
    {
        var configPath = Path.Combine(Path.GetFullPath(directory), "config.yaml");
        if (!File.Exists(configPath))
        {
            throw new InvalidOperationException($"{configPath}: not found");
        }

        // The loader runs under the watched file's lock, one load at a time: _newest needs no other guard.
        _config = new WatchedFile<EndpointDefinition>(configPath, "Endpoint config", _ => Adopt(EndpointCatalog.Load(directory, logger), configPath), logger);
    }

    public EndpointDefinition Current => _config.Current;

    /// <summary>Why a present file of this endpoint is not in use, one line per file (empty when all are).</summary>
    public IEnumerable<string> Errors
    {
        get
        {
            var current = Current;
            return new[] { _config.LastReloadError, current.IdentityMapper.LastReloadError, current.TemplateFile.LastReloadError, current.SchemaFile?.LastReloadError }
                .OfType<string>();
        }
    }

    public void Dispose()
    {
        _config.Dispose();
        _newest?.Dispose();
    }

    /// <summary>The new definition replaces the previous one, whose file watchers stop (requests that hold it still
    /// read its last values); a new endpoint id is refused.</summary>
    private EndpointDefinition Adopt(EndpointDefinition next, string configPath)
    {
        if (_newest is { } previous && !string.Equals(previous.EndpointId, next.EndpointId, StringComparison.OrdinalIgnoreCase))
        {
            next.Dispose();
            throw new InvalidOperationException(
                $"{configPath}: endpoint_id changed from {previous.EndpointId} to {next.EndpointId}; an endpoint's id cannot change while the silo runs (restart the silo to serve another endpoint)");
        }

        var old = _newest;
        _newest = next;
        old?.Dispose();
        return next;
    }
}
