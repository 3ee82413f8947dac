using Mep.Contracts.Model;
using Mep.Grains.Audit;
using Mep.Grains.Endpoints;
using Mep.Grains.Identity;
using Mep.Grains.Telemetry;
using Mep.Identity;

namespace Mep.Grains.Endpoint;

/// <summary>Access control: the endpoint's policies, then identity mapping, every decision audited.</summary>
public sealed partial class EndpointGrain
{
    /// <summary>
    /// Runs one request under audit: whatever the outcome (allowed, refused with a problem, failed), one entry is
    /// written before the caller hears it.
    /// </summary>
    private async Task<T> Audited<T>(string action, CallerIdentity caller, Func<AuditFacts, Task<T>> request)
    {
        var facts = new AuditFacts();
        try
        {
            var result = await request(facts);
            await audit.WriteAsync(Entry(action, caller, facts, AuditEntry.Allowed, 200, null));
            MepMetrics.Request(EndpointId, action, 200);
            return result;
        }
        catch (ProblemException e)
        {
            await audit.WriteAsync(Entry(action, caller, facts, AuditEntry.Refused, e.Status, e.Detail));
            MepMetrics.Request(EndpointId, action, e.Status);
            throw;
        }
        catch (Exception e)
        {
            await audit.WriteAsync(Entry(action, caller, facts, AuditEntry.Refused, 500, $"internal error: {e.GetType().Name}"));
            MepMetrics.Request(EndpointId, action, 500);
            throw;
        }
    }

    /// <summary>
    /// The local account the caller runs as (its name is the mapping's username), after the endpoint's policies allow the caller. Only the identities the
    /// policies accept are offered to the mapping. The first candidate decides: when it names an account the node
    /// cannot use, the request is refused; falling back to a later candidate would let a mapping typo run tasks as
    /// someone else.
    /// </summary>
    private async Task<LocalAccount> AuthorizeAsync(EndpointDefinition endpoint, CallerIdentity caller, AuditFacts facts)
    {
        var decision = endpoint.Policy.Evaluate(caller, DateTimeOffset.UtcNow);
        if (!decision.Allowed)
        {
            throw ProblemException.Forbidden(decision.Refusal!);
        }

        var mapping = await endpoint.IdentityMapper.MapAsync(decision.Considered, endpoint.EndpointId, logger);
        facts.Mapped(mapping);
        if (mapping.Username is null)
        {
            MepMetrics.MappingFailure(endpoint.EndpointId, "no_mapping");
            throw ProblemException.Forbidden($"identity {caller.Username} does not map to a local account on endpoint {endpoint.EndpointId}");
        }

        var (account, refusal) = LocalAccounts.Resolve(mapping.Username, Environment.UserName);
        if (account is not null && refusal is null)
        {
            return account;
        }

        MepMetrics.MappingFailure(endpoint.EndpointId, "account_refused");
        throw ProblemException.Forbidden($"identity {caller.Username} maps to {refusal}");
    }

    private AuditEntry Entry(string action, CallerIdentity caller, AuditFacts facts, string decision, int status, string? reason) => new(
        DateTimeOffset.UtcNow, EndpointId, action, decision, status, reason, caller.IdentityId, caller.Username,
        caller.IdentitySet().Select(i => i.Username).ToList(), facts.MatchedIdentity, facts.LocalUser, facts.MappingRule,
        facts.UserEndpointId, facts.Functions, facts.Tasks);

    /// <summary>What a request learnt on its way, for its audit entry (whatever point it reached).</summary>
    private sealed class AuditFacts
    {
        public string? MatchedIdentity { get; set; }
        public string? MappingRule { get; set; }
        public string? LocalUser { get; set; }
        public string? UserEndpointId { get; set; }
        public IReadOnlyList<Guid>? Functions { get; set; }
        public int? Tasks { get; set; }

        /// <summary>The identity → account mapping: the account, the identity of the set that chose it and by which rule.</summary>
        public void Mapped(MappingResult mapping)
        {
            LocalUser = mapping.Username;
            if (mapping.Candidates is [var chosen, ..])
            {
                MatchedIdentity = chosen.IdentityId;
                MappingRule = chosen.Rule is { } rule ? $"document[{chosen.Document}].rule[{rule}]" : $"document[{chosen.Document}]";
            }
        }
    }
}
