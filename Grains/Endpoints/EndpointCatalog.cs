using Mep.Protocol.Launcher;
using Mep.Identity;
using Mep.Grains.Policies;
using Mep.Grains.UserConfig;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using YamlDotNet.Serialization;

namespace Mep.Grains.Endpoints;

/// <summary>
/// The endpoints this silo serves, loaded from their directories at start. A broken endpoint directory stops the
/// silo with a message naming the file and field: an admin should learn of a typo at start, not from a user's 500.
/// Every file of an endpoint (config.yaml, identity mapping, template, schema) is then followed as it changes
/// (<see cref="LiveEndpoint"/>): read <see cref="Find"/> per request. The catalog owns the watchers, and the host
/// disposes it with the container.
/// </summary>
public sealed class EndpointCatalog : IDisposable
{
    private readonly Dictionary<string, LiveEndpoint> _endpoints;

    public EndpointCatalog(IOptions<MepOptions> options, ILogger<EndpointCatalog> logger)
        : this(options.Value.Endpoints, logger)
    {
    }

    public EndpointCatalog(IEnumerable<string> directories, ILogger logger)
    {
        _endpoints = new Dictionary<string, LiveEndpoint>(StringComparer.OrdinalIgnoreCase);
        try
        {
            foreach (var directory in directories)
            {
                var live = new LiveEndpoint(directory, logger);
                var endpoint = live.Current;
                if (!_endpoints.TryAdd(endpoint.EndpointId, live))
                {
                    live.Dispose();
                    throw new InvalidOperationException($"{directory}: endpoint_id {endpoint.EndpointId} is already served from {_endpoints[endpoint.EndpointId].Current.Directory}");
                }

                logger.LogInformation("Serving endpoint {EndpointId} ({DisplayName}) from {Directory}", endpoint.EndpointId, endpoint.DisplayName, directory);
                foreach (var warning in endpoint.IdentityMapper.Current.Warnings)
                {
                    logger.LogWarning("Endpoint {EndpointId}: identity mapping {Warning}", endpoint.EndpointId, warning);
                }
            }
        }
        catch
        {
            // The silo stops; the watchers already started must not outlive the failed start (in tests, they would).
            Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var endpoint in _endpoints.Values)
        {
            endpoint.Dispose();
        }
    }

    /// <summary>Each endpoint as its files are now.</summary>
    public IReadOnlyCollection<EndpointDefinition> All => _endpoints.Values.Select(e => e.Current).ToList();

    public EndpointDefinition? Find(string endpointId) => _endpoints.GetValueOrDefault(endpointId)?.Current;

    /// <summary>Files changed into something invalid, whose previous content is still in use: one line each.</summary>
    public IReadOnlyList<string> ConfigurationErrors => _endpoints.Values.SelectMany(e => e.Errors).ToList();

    /// <summary>The endpoint in the directory; its identity mapping file is watched from then on (dispose it).</summary>
    /// <param name="logger">Where reloads of the identity mapping file are reported.</param>
    public static EndpointDefinition Load(string directory, ILogger logger)
    {
        var dir = Path.GetFullPath(directory);
        var configPath = Path.Combine(dir, "config.yaml");
        if (!File.Exists(configPath))
        {
            throw new InvalidOperationException($"{configPath}: not found");
        }

        EndpointConfigFile file;
        System.Text.Json.Nodes.JsonObject parentConfig;
        try
        {
            var text = File.ReadAllText(configPath);
            file = new DeserializerBuilder().Build().Deserialize<EndpointConfigFile>(text) ?? new EndpointConfigFile();
            parentConfig = YamlToJson.Convert(text);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new InvalidOperationException($"{configPath}: {e.Message}", e);
        }
        catch (TemplateRenderException e)
        {
            throw new InvalidOperationException($"{configPath}: {e.Message.Replace("rendered config", "config")}", e);
        }

        string Field(string? value, string name) =>
            string.IsNullOrWhiteSpace(value) ? throw new InvalidOperationException($"{configPath}: {name} is required") : value;

        string FilePath(string? value, string name)
        {
            var path = Path.Combine(dir, Field(value, name));
            return File.Exists(path) ? path : throw new InvalidOperationException($"{configPath}: {name}: file {path} not found");
        }

        try
        {
            if (!Guid.TryParse(Field(file.EndpointId, "endpoint_id"), out var id))
            {
                throw new InvalidOperationException($"{configPath}: endpoint_id '{file.EndpointId}' is not a UUID");
            }

            var allowed = new HashSet<Guid>();
            foreach (var f in file.AllowedFunctions ?? [])
            {
                allowed.Add(Guid.TryParse(f, out var g) ? g : throw new InvalidOperationException($"{configPath}: allowed_functions: '{f}' is not a function id (UUID)"));
            }

            var outputLimit = file.OutputLimitBytes ?? 64 * 1024;
            if (outputLimit is <= 0 or > 16 * 1024 * 1024)
            {
                throw new InvalidOperationException($"{configPath}: output_limit_bytes must be between 1 and 16777216");
            }

            var limits = new TaskLimits(
                file.ResultSizeLimitBytes ?? TaskLimits.DefaultResultSizeLimitBytes,
                file.OutputLines ?? TaskLimits.DefaultOutputLines,
                file.MaxWorkerDeaths ?? TaskLimits.DefaultMaxWorkerDeaths);
            if (limits.ResultSizeLimitBytes is <= 0 or > 1L << 30)
            {
                throw new InvalidOperationException($"{configPath}: result_size_limit_bytes must be between 1 and 1073741824");
            }

            if (limits.OutputLines is <= 0 or > 1_000_000)
            {
                throw new InvalidOperationException($"{configPath}: output_lines must be between 1 and 1000000");
            }

            if (limits.MaxWorkerDeaths is <= 0 or > 100)
            {
                throw new InvalidOperationException($"{configPath}: max_worker_deaths must be between 1 and 100");
            }

            var templatePath = FilePath(file.UserConfigTemplate, "user_config_template");
            // No schema file: any options are accepted (the template and the UEP config model still check them).
            var schemaPath = string.IsNullOrWhiteSpace(file.UserConfigSchema) ? null : FilePath(file.UserConfigSchema, "user_config_schema");
            var idleTimeout = Durations.Parse(file.IdleTimeout ?? "5m", "idle_timeout");
            var heartbeatPeriod = Durations.Parse(file.HeartbeatPeriod ?? "30s", "heartbeat_period");
            var maxWalltime = Durations.Parse(file.MaxWalltime ?? "24h", "max_walltime");
            // A running task holds its delivery unacknowledged: the broker's consumer_timeout (8 days on the nodes
            // scripts/rabbitmq-node writes; sites set it too, README) must exceed the longest walltime.
            if (maxWalltime > TimeSpan.FromDays(7))
            {
                throw new InvalidOperationException($"{configPath}: max_walltime must be at most 7d");
            }
            var policy = new EndpointPolicy(
                (file.AllowedDomains ?? []).Select(d => DomainPattern.Parse(d, "allowed_domains")).ToList(),
                file.SessionMaxAge is null ? null : Durations.Parse(file.SessionMaxAge, "session_max_age"),
                new IdentityList(file.Admins ?? [], "admins"),
                new IdentityList(file.AllowedUsers ?? [], "allowed_users"),
                new IdentityList(file.DeniedUsers ?? [], "denied_users"));
            var lifecycle = LifecycleSettings.Read(file, configPath);
            var pamService = PamSettings.Read(file.Pam, configPath);
            var uepLimits = UserEndpointLimits.Read(file.UserEndpointLimits, configPath);
            var identityMappingPath = FilePath(file.IdentityMapping, "identity_mapping");
            // Last: from here on watchers run; one that started is disposed if a later one fails to load its file.
            var watched = new List<IDisposable>();
            WatchedFile<ConfigTemplate> template;
            WatchedFile<ConfigSchema>? schema;
            IdentityMappingFile identityMapping;
            try
            {
                template = Watched(new WatchedFile<ConfigTemplate>(templatePath, "User config template", path => ConfigTemplate.Load(path), logger));
                schema = schemaPath is null ? null : Watched(new WatchedFile<ConfigSchema>(schemaPath, "User config schema", ConfigSchema.Load, logger));
                identityMapping = Watched(new IdentityMappingFile(identityMappingPath, logger));
            }
            catch
            {
                watched.ForEach(w => w.Dispose());
                throw;
            }

            TW Watched<TW>(TW w)
                where TW : IDisposable
            {
                watched.Add(w);
                return w;
            }

            return new EndpointDefinition(
                EndpointId: id.ToString(),
                DisplayName: file.DisplayName ?? id.ToString(),
                Directory: dir,
                IdentityMapper: identityMapping,
                TemplateFile: template,
                SchemaFile: schema,
                AllowedFunctions: allowed,
                LauncherSocket: string.IsNullOrWhiteSpace(file.LauncherSocket) ? null : file.LauncherSocket,
                IdleTimeout: idleTimeout,
                HeartbeatPeriod: heartbeatPeriod,
                MaxWalltime: maxWalltime,
                OutputLimitBytes: outputLimit,
                Limits: limits,
                Policy: policy,
                ParentConfig: parentConfig,
                Lifecycle: lifecycle,
                PamService: pamService,
                UserEndpointLimits: uepLimits);
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"{configPath}: {e.Message}", e);
        }
    }
}
