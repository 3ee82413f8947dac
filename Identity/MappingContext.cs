namespace Mep.Identity;

/// <summary>
/// What an external mapping program is told about the mapping it is asked for: <c>-c ConnectorId -s EndpointId</c>.
/// </summary>
public sealed record MappingContext(string EndpointId, string ConnectorId)
{
    /// <summary>
    /// The connector id of GCS's POSIX storage gateway. GCS passes its storage gateway's connector id with <c>-c</c>;
    /// Globus Compute's multi-user endpoint maps identities to POSIX accounts too and passes this same id (with its
    /// endpoint id as <c>-s</c>) through the globus-identity-mapping library. MEP maps to POSIX accounts the same way,
    /// so a site's existing program, which may check <c>-c</c>, gets the answer it already expects.
    /// </summary>
    public const string PosixConnectorId = "145812c8-decc-41f1-83cf-bb2a85a2a70b";

    /// <summary>What <c>mep mapping test</c> passes as <c>-s</c> when no endpoint id is given.</summary>
    public const string NoEndpointId = "00000000-0000-0000-0000-000000000000";

    public static MappingContext ForEndpoint(string endpointId) => new(endpointId, PosixConnectorId);
}
