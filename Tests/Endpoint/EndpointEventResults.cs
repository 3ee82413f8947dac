using Mep.Protocol.Messages;

namespace Mep.Tests.Endpoint;

/// <summary>The results an event carries, alone or batched: a worker sends results ending close together in one event.</summary>
internal static class EndpointEventResults
{
    public static IEnumerable<TaskResultMessage> AllResults(this EndpointEvent e) =>
        e switch
        {
            { Kind: EndpointEventKind.Result, Result: { } one } => [one],
            { Kind: EndpointEventKind.Results, Results: { } many } => many,
            _ => [],
        };

    public static bool IsResult(this EndpointEvent e) => e.Kind is EndpointEventKind.Result or EndpointEventKind.Results;
}
