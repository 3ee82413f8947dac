using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mep.Cli.Commands;

/// <summary>Checks for values System.CommandLine only sees as strings, each failing with a message naming the field.</summary>
internal static class Parsing
{
    public static Guid Guid(string text, string field) =>
        System.Guid.TryParse(text.Trim(), out var id)
            ? id
            : throw new UsageException($"{field} '{text}' is not a UUID");

    /// <summary><c>name=value</c> pairs; names as the shell command template spells placeholders.</summary>
    public static IReadOnlyDictionary<string, string>? Args(string[]? pairs)
    {
        if (pairs is null || pairs.Length == 0)
        {
            return null;
        }

        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                throw new UsageException($"--arg '{pair}' must be name=value");
            }

            var name = pair[..eq];
            if (!IsName(name))
            {
                throw new UsageException($"--arg '{pair}': '{name}' is not an argument name (letters, digits, '_')");
            }

            if (!args.TryAdd(name, pair[(eq + 1)..]))
            {
                throw new UsageException($"--arg '{name}' is given more than once");
            }
        }

        return args;
    }

    /// <summary>The user endpoint config: inline JSON, or <c>@path</c> to a JSON file.</summary>
    public static JsonObject? Config(string? text) =>
        text is null ? null : Json(text, "--config") as JsonObject ?? throw new UsageException("--config must be a JSON object ({...})");

    /// <summary>A JSON value given inline, or as <c>@path</c> to a file; <paramref name="option"/> names it in errors.</summary>
    public static JsonNode? Json(string text, string option)
    {
        var source = option;
        var json = text;
        if (text.StartsWith('@'))
        {
            var path = text[1..];
            source = $"{option} file '{path}'";
            try
            {
                json = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{source} cannot be read: {e.Message}");
            }
        }

        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new UsageException($"{source} is not valid JSON: {e.Message}");
        }
    }

    private static bool IsName(string name) =>
        (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
