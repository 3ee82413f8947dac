using System.Text.Json.Serialization;
using Mep.Endpoint.Worker;
using Mep.Protocol;

namespace Mep.Endpoint;

/// <summary>
/// Source-generated metadata for the UEP's own files (worker document, worker status), in the protocol's dialect:
/// mep-endpoint is published as Native AOT, which has no reflection-based serialization.
/// </summary>
[JsonSerializable(typeof(WorkerDocument))]
[JsonSerializable(typeof(WorkerStatus))]
internal sealed partial class EndpointJson : JsonSerializerContext
{
    public static EndpointJson Files { get; } = new(ProtocolJsonContext.Dialect(new KebabCaseEnumConverter<WorkerPhase>()));
}
