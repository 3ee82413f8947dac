using System.Text.Json;
using Mep.Protocol;
using Mep.Protocol.Api;

namespace Mep.Silo.Api;

/// <summary>RFC 7807 problem+json responses: every API error goes out through here.</summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";

    public static IResult Result(int status, string title, string detail) =>
        Results.Json(Create(status, title, detail), ProtocolJson.Options, ContentType, status);

    public static async Task Write(HttpResponse response, int status, string title, string detail)
    {
        response.StatusCode = status;
        response.ContentType = ContentType;
        await JsonSerializer.SerializeAsync(response.Body, Create(status, title, detail), ProtocolJson.Options);
    }

    private static Problem Create(int status, string title, string detail) =>
        new($"https://mep.dev/problems/{status}", title, status, detail);
}
