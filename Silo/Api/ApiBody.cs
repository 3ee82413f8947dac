using System.Text.Json;
using Mep.Contracts.Model;
using Mep.Protocol;

namespace Mep.Silo.Api;

internal static class ApiBody
{
    private const long MaxBodyBytes = 64 * 1024 * 1024;

    /// <summary>Reads a JSON body strictly; a malformed one is a 400 that names the offending field.</summary>
    public static async Task<T> Read<T>(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            throw ProblemException.BadRequest($"request body: larger than {MaxBodyBytes} bytes");
        }

        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, ProtocolJson.Options, ct)
                   ?? throw ProblemException.BadRequest("request body: a JSON object is required");
        }
        catch (JsonException e)
        {
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" (at {e.Path})";
            throw ProblemException.BadRequest($"request body: {FirstSentence(e.Message)}{where}");
        }
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }
}
