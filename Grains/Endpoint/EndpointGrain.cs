using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Contracts;
using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Mep.Grains.Endpoints;
using Mep.Grains.Identity;
using Mep.Grains.UserConfig;
using Mep.Identity;
using Mep.Protocol.Config;
using Mep.Protocol.Shell;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Mep.Grains.Endpoint;

[GenerateSerializer, Alias("mep.endpoint-state")]
public sealed class EndpointState
{
    /// <summary>Identity id → that identity's user endpoint ids on this endpoint.</summary>
    [Id(0)]
    public Dictionary<string, HashSet<string>> UserEndpoints { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>User endpoints with queued work or a live process: the ones to wake after a restart.</summary>
    [Id(1)]
    public HashSet<string> Active { get; set; } = [];

    /// <summary>User endpoint id → the local account it runs as: the per-user limits count by account.</summary>
    [Id(2)]
    public Dictionary<string, string> LocalUsers { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// The MEP of one endpoint: everything between an authenticated request and a user endpoint's queue. It holds no
/// tasks itself; a submission is durable once the user endpoint grain has written it to the task store (records
/// included).
/// </summary>
/// <remarks>
/// Reentrant: every user of the endpoint comes through this one activation, and a request may wait seconds (an
/// external mapping program, a user endpoint's durable write); one user's wait must not hold up the others. Turns
/// still run one at a time, so the state is only changed between awaits; its writes go through
/// <see cref="SaveAsync"/>, one at a time, because the storage refuses overlapping writes of one grain (ETag).
/// </remarks>
[Reentrant]
public sealed partial class EndpointGrain(
    [PersistentState("endpoint", StorageNames.Mep)] IPersistentState<EndpointState> state,
    EndpointCatalog catalog,
    IAuditLog audit,
    IOptions<MepOptions> options,
    Mep.Grains.UserEndpoints.StartGate startGate,
    Mep.Grains.Nodes.NodeChooser nodeChooser,
    IClusterMembershipService membership,
    ILogger<EndpointGrain> logger) : Grain, IEndpointGrain
{
    private readonly SemaphoreSlim _writes = new(1, 1);

    // Prepared configs of the current endpoint definition (see PrepareConfigOnce); never mutated once stored.
    private const int MaxPrepared = 256;
    private readonly Dictionary<(string? Json, string Gc), (JsonObject Config, string Canonical, JsonObject Rendered, UepConfig Model)> _prepared = [];
    private (EndpointDefinition? Endpoint, ConfigTemplate? Template, ConfigSchema? Schema) _preparedFor;
    private const int MaxFunctions = 1024;
    private static readonly TimeSpan GcLifetime = TimeSpan.FromMinutes(1);
    private readonly Dictionary<(LocalAccount Account, string IdentityId, string? UserRuntime), (JsonObject Gc, string Json, long At)> _gcs = [];
    private EndpointDefinition? _gcsFor;
    private readonly Dictionary<Guid, FunctionDefinition> _functions = [];

    private string EndpointId => this.GetPrimaryKeyString();

    /// <summary>Writes the state as it is now (including changes other requests made meanwhile), one write at a time.</summary>
    private async Task SaveAsync()
    {
        await _writes.WaitAsync();
        try
        {
            await state.WriteStateAsync();
        }
        finally
        {
            _writes.Release();
        }
    }

    public Task<SubmitReceipt> Submit(CallerIdentity caller, SubmitBatch batch) =>
        Audited("submit", caller, facts => SubmitAsync(caller, batch, facts));

    private async Task<SubmitReceipt> SubmitAsync(CallerIdentity caller, SubmitBatch batch, AuditFacts facts)
    {
        var endpoint = Endpoint();
        facts.Functions = batch.Tasks.Select(t => t.FunctionId).Distinct().ToList();
        facts.Tasks = batch.Tasks.Count;
        if (batch.Tasks.Count == 0)
        {
            throw ProblemException.BadRequest("tasks: at least one task is required");
        }

        if (batch.Tasks.Count > options.Value.MaxTasksPerSubmit)
        {
            throw ProblemException.BadRequest($"tasks: at most {options.Value.MaxTasksPerSubmit} tasks per request");
        }

        var account = await AuthorizeAsync(endpoint, caller, facts);
        var username = account.Name;
        var gc = GcOnce(endpoint, account, caller.IdentityId, batch.UserRuntimeJson);
        var (userConfig, canonical, rendered, model) = PrepareConfigOnce(endpoint, batch.UserEndpointConfigJson, gc);
        var uepId = UserEndpointId.Derive(endpoint.EndpointId, caller.IdentityId, canonical);
        var queued = await BuildTasks(endpoint, model, batch.Tasks);

        var spec = new UserEndpointSpec(endpoint.EndpointId, caller.IdentityId, username, canonical, rendered.ToJsonString());
        facts.UserEndpointId = uepId;
        var admission = await AdmitAsync(endpoint, username, uepId);
        var enqueued = false;
        bool changed;
        try
        {
            await GrainFactory.GetGrain<IUserEndpointGrain>(uepId).Enqueue(spec, queued);
            enqueued = true;

            // In the same turn as the admission ends, so that the limits never miss this user endpoint.
            if (!state.State.UserEndpoints.TryGetValue(caller.IdentityId, out var mine))
            {
                mine = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                state.State.UserEndpoints[caller.IdentityId] = mine;
            }

            var knownOwner = state.State.LocalUsers.TryGetValue(uepId, out var known) && known == username;
            state.State.LocalUsers[uepId] = username;
            changed = mine.Add(uepId) | state.State.Active.Add(uepId) | !knownOwner;
        }
        finally
        {
            admission.Release(enqueued);
        }

        if (changed)
        {
            await SaveAsync();
        }

        Telemetry.MepMetrics.Submitted(endpoint.EndpointId, queued.Count);
        logger.LogInformation(
            "Accepted {Count} tasks for {Identity} as {LocalUser} on user endpoint {UepId} ({Config})",
            queued.Count, caller.Username, username, uepId, userConfig.ToJsonString());
        return new SubmitReceipt(uepId, queued.Select(t => t.TaskId).ToList());
    }

    public Task<EndpointDescription> Describe(CallerIdentity caller) =>
        Audited("describe", caller, async facts =>
        {
            var endpoint = Endpoint();
            var decision = endpoint.Policy.Evaluate(caller, DateTimeOffset.UtcNow);
            if (!decision.Allowed)
            {
                throw ProblemException.Forbidden(decision.Refusal!);
            }

            // Describing does not need an account: an unmapped caller sees null and can ask the admin why.
            var mapping = await endpoint.IdentityMapper.MapAsync(decision.Considered, endpoint.EndpointId, logger);
            var username = mapping.Username;
            facts.Mapped(mapping);
            var snapshots = new List<UserEndpointSnapshot>();
            if (state.State.UserEndpoints.TryGetValue(caller.IdentityId, out var mine))
            {
                foreach (var id in mine.Order(StringComparer.Ordinal))
                {
                    snapshots.Add(await GrainFactory.GetGrain<IUserEndpointGrain>(id).GetSnapshot());
                }
            }

            return new EndpointDescription(endpoint.EndpointId, endpoint.DisplayName, username, snapshots);
        });

    public async Task SetActive(string userEndpointId, bool active)
    {
        var changed = active ? state.State.Active.Add(userEndpointId) : state.State.Active.Remove(userEndpointId);
        if (changed)
        {
            await SaveAsync();
        }
    }

    public async Task Reconcile()
    {
        foreach (var id in state.State.Active.ToList())
        {
            try
            {
                await GrainFactory.GetGrain<IUserEndpointGrain>(id).Reconcile();
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Reconciling user endpoint {UepId} failed; it retries on its next event", id);
            }
        }
    }

    private EndpointDefinition Endpoint() =>
        catalog.Find(EndpointId) ?? throw ProblemException.NotFound($"endpoint {EndpointId} is not served here");

    /// <summary>
    /// The caller's <c>_GC</c> template variables (mapped identity, user runtime, parent config) with their JSON text,
    /// remembered for <see cref="GcLifetime"/>: the account's group names alone (getgrouplist, then a group lookup
    /// each) took ~0.15 ms of every submit. A change of the account (name, ids, home, shell, GECOS) is a new key at
    /// once; a change of its groups shows within the lifetime, as with the name service caches sites already run.
    /// </summary>
    private (JsonObject Gc, string Json) GcOnce(EndpointDefinition endpoint, LocalAccount account, string identityId, string? userRuntimeJson)
    {
        if (!ReferenceEquals(endpoint, _gcsFor) || _gcs.Count >= MaxPrepared)
        {
            _gcs.Clear();
            _gcsFor = endpoint;
        }

        var key = (account, identityId, userRuntimeJson);
        if (_gcs.TryGetValue(key, out var known) && System.Diagnostics.Stopwatch.GetElapsedTime(known.At) < GcLifetime)
        {
            return (known.Gc, known.Json);
        }

        var gc = TemplateVariables.Gc(TemplateVariables.MappedIdentity(account, identityId), ParseUserRuntime(userRuntimeJson), endpoint.ParentConfig);
        var json = gc.ToJsonString();
        _gcs[key] = (gc, json, System.Diagnostics.Stopwatch.GetTimestamp());
        return (gc, json);
    }

    /// <summary>
    /// <see cref="PrepareConfig"/>, remembered: for one endpoint definition, template and schema (each reload makes a new
    /// object), one user config and one set of template variables the outcome is always the same, and a user who submits
    /// batch after batch with one config need not have it validated and rendered each time. Failures are not remembered.
    /// </summary>
    private (JsonObject Config, string Canonical, JsonObject Rendered, UepConfig Model) PrepareConfigOnce(EndpointDefinition endpoint, string? json, (JsonObject Gc, string Json) gc)
    {
        var source = (endpoint, endpoint.Template, endpoint.Schema);
        if (!ReferenceEquals(source.endpoint, _preparedFor.Endpoint) || !ReferenceEquals(source.Template, _preparedFor.Template)
            || !ReferenceEquals(source.Schema, _preparedFor.Schema) || _prepared.Count >= MaxPrepared)
        {
            _prepared.Clear();
            _preparedFor = source;
        }

        var key = (json, gc.Json);
        if (!_prepared.TryGetValue(key, out var prepared))
        {
            // A copy: the remembered variables stay as their text says, whatever rendering does with them.
            prepared = PrepareConfig(endpoint, json, gc.Gc.DeepClone().AsObject());
            _prepared[key] = prepared;
        }

        return prepared;
    }

    /// <summary>
    /// The user's options checked against the schema, the template rendered with them, and the result read into the
    /// UEP config model. Every failure is a 400: it is the user's values that led to it, even when the admin's template
    /// is what renders the bad key; those are logged as warnings too, since the admin may need to fix the template.
    /// </summary>
    private (JsonObject Config, string Canonical, JsonObject Rendered, UepConfig Model) PrepareConfig(EndpointDefinition endpoint, string? json, JsonObject gc)
    {
        JsonObject config;
        try
        {
            config = json is null ? [] : JsonNode.Parse(json) as JsonObject
                ?? throw ProblemException.BadRequest("user_endpoint_config: must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ProblemException.BadRequest($"user_endpoint_config: not valid JSON: {e.Message}");
        }

        if (TemplateVariables.ReservedOption(config) is { } reserved)
        {
            throw ProblemException.BadRequest($"user_endpoint_config.{reserved}: is a reserved name (the endpoint supplies it to its template)");
        }

        var errors = endpoint.Schema.Validate(config);
        if (errors.Count > 0)
        {
            throw ProblemException.BadRequest(string.Join("; ", errors));
        }

        JsonObject rendered;
        try
        {
            rendered = YamlToJson.Convert(endpoint.Template.Render(config, gc));
        }
        catch (TemplateRenderException e)
        {
            throw ProblemException.BadRequest($"user_endpoint_config: the endpoint's template cannot be rendered with it: {e.Message}");
        }

        UepConfig model;
        try
        {
            model = UepConfigReader.Read(rendered);
        }
        catch (UepConfigException e)
        {
            logger.LogWarning("Endpoint {EndpointId}: the template rendered a config the model refuses ({Error}) for user config {Config}",
                endpoint.EndpointId, e.Message, config.ToJsonString());
            throw ProblemException.BadRequest($"user_endpoint_config: the rendered user endpoint config is not valid: {e.Message}");
        }

        return (config, CanonicalJson.Write(config), rendered, model);
    }

    private static JsonObject? ParseUserRuntime(string? json)
    {
        if (json is null)
        {
            return null;
        }

        if (json.Length > TemplateVariables.MaxUserRuntimeChars)
        {
            throw ProblemException.BadRequest($"user_runtime: at most {TemplateVariables.MaxUserRuntimeChars} characters of JSON");
        }

        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw ProblemException.BadRequest("user_runtime: must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ProblemException.BadRequest($"user_runtime: not valid JSON: {e.Message}");
        }
    }

    /// <summary>
    /// A function's definition, remembered once found: registration is write-once, so a definition never changes, and
    /// a user who submits task after task of one function need not have it fetched from its grain each time (a grain
    /// call was ~0.1 ms of every submit). An unknown id is not remembered: it may be registered next.
    /// </summary>
    private async Task<FunctionDefinition> FunctionAsync(Guid functionId)
    {
        if (_functions.TryGetValue(functionId, out var known))
        {
            return known;
        }

        var function = await GrainFactory.GetGrain<IFunctionGrain>(functionId).Get()
            ?? throw ProblemException.NotFound($"function {functionId} not found");
        if (_functions.Count >= MaxFunctions)
        {
            _functions.Clear();
        }

        _functions[functionId] = function;
        return function;
    }

    private async Task<List<QueuedTask>> BuildTasks(EndpointDefinition endpoint, UepConfig config, IReadOnlyList<SubmittedTask> requests)
    {
        var functions = new Dictionary<Guid, FunctionDefinition>();
        foreach (var functionId in requests.Select(r => r.FunctionId).Distinct())
        {
            // Checked first: a function the endpoint does not allow is refused whether or not it exists.
            if (!endpoint.AllowsFunction(functionId))
            {
                throw ProblemException.Forbidden($"function {functionId} is not allowed on endpoint {endpoint.EndpointId}");
            }

            // The user endpoint's own list (Globus Compute's allowed_functions) can only narrow the endpoint's.
            if (config.AllowedFunctions is { } narrowed && !narrowed.Contains(functionId))
            {
                throw ProblemException.Forbidden($"function {functionId} is not in the user endpoint config's allowed_functions");
            }

            functions[functionId] = await FunctionAsync(functionId);
        }

        var now = DateTimeOffset.UtcNow;
        var tasks = new List<QueuedTask>(requests.Count);
        long argsTotal = 0;
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            var function = functions[request.FunctionId];
            var walltime = request.WalltimeSeconds ?? function.WalltimeSeconds;
            if (walltime <= 0 || walltime > endpoint.MaxWalltime.TotalSeconds)
            {
                throw ProblemException.BadRequest($"tasks[{i}].walltime_seconds: must be between 0 and {endpoint.MaxWalltime.TotalSeconds} on this endpoint");
            }

            var id = Guid.CreateVersion7(now);
            var (task, argsBytes) = function.Kind switch
            {
                FunctionKindModel.Python => PythonTask(i, request, function, id, walltime, endpoint.OutputLimitBytes, now),
                _ => ShellTask(i, request, function, id, walltime, endpoint.OutputLimitBytes, now),
            };
            argsTotal += argsBytes;
            if (argsTotal > options.Value.MaxArgsBytesPerSubmit)
            {
                throw ProblemException.BadRequest(
                    $"tasks: the arguments of this request exceed {options.Value.MaxArgsBytesPerSubmit} bytes in all (at tasks[{i}]); submit fewer tasks per request");
            }

            tasks.Add(task);
        }

        return tasks;
    }

    private (QueuedTask Task, long ArgsBytes) ShellTask(
        int i, SubmittedTask request, FunctionDefinition function, Guid id, double walltime, int outputLimit, DateTimeOffset now)
    {
        var field = request.PositionalArgsJson is not null ? "positional_args" : request.KeywordArgsJson is not null ? "keyword_args" : null;
        if (field is not null)
        {
            throw ProblemException.BadRequest($"tasks[{i}].{field}: function {function.FunctionId} is a shell function; give its arguments in args");
        }

        try
        {
            ShellCommand.Render(function.Command, request.Args);
        }
        catch (FormatException e)
        {
            throw ProblemException.BadRequest($"tasks[{i}].args: {e.Message}");
        }

        long bytes = request.Args.Sum(a => Encoding.UTF8.GetByteCount(a.Key) + Encoding.UTF8.GetByteCount(a.Value));
        CheckTaskArgsSize(bytes, $"tasks[{i}].args");
        return (new QueuedTask(id, function.FunctionId, function.Command, request.Args, walltime, outputLimit, now), bytes);
    }

    private (QueuedTask Task, long ArgsBytes) PythonTask(
        int i, SubmittedTask request, FunctionDefinition function, Guid id, double walltime, int outputLimit, DateTimeOffset now)
    {
        if (request.Args.Count > 0)
        {
            throw ProblemException.BadRequest(
                $"tasks[{i}].args: function {function.FunctionId} is a Python function; give its arguments in positional_args and keyword_args");
        }

        var positional = JsonText<JsonArray>(request.PositionalArgsJson, "[]", $"tasks[{i}].positional_args", "a JSON array");
        var keywords = JsonText<JsonObject>(request.KeywordArgsJson, "{}", $"tasks[{i}].keyword_args", "a JSON object");
        long bytes = Encoding.UTF8.GetByteCount(positional) + Encoding.UTF8.GetByteCount(keywords);
        CheckTaskArgsSize(bytes, $"tasks[{i}].positional_args and keyword_args");
        return (new QueuedTask(id, function.FunctionId, "", new Dictionary<string, string>(), walltime, outputLimit, now,
            FunctionKindModel.Python, positional, keywords), bytes);
    }

    private void CheckTaskArgsSize(long bytes, string field)
    {
        if (bytes > options.Value.MaxArgsBytesPerTask)
        {
            throw ProblemException.BadRequest($"{field}: {bytes} bytes of arguments; at most {options.Value.MaxArgsBytesPerTask} per task");
        }
    }

    /// <summary>The arguments as compact JSON text of the expected shape (the API sends them parsed already; this guards
    /// the grain's own contract).</summary>
    private static string JsonText<T>(string? json, string empty, string field, string shape)
        where T : JsonNode
    {
        if (json is null)
        {
            return empty;
        }

        try
        {
            return JsonNode.Parse(json) is T node ? node.ToJsonString() : throw ProblemException.BadRequest($"{field}: must be {shape}");
        }
        catch (JsonException e)
        {
            throw ProblemException.BadRequest($"{field}: not valid JSON: {e.Message}");
        }
    }
}
