using System.Text.Json.Nodes;
using NJsonSchema;
using NJsonSchema.Validation;

namespace Mep.Grains.UserConfig;

/// <summary>The admin's JSON schema for user endpoint configs (NJsonSchema).</summary>
public sealed class ConfigSchema
{
    private readonly JsonSchema _schema;

    private ConfigSchema(JsonSchema schema) => _schema = schema;

    public static ConfigSchema Load(string path)
    {
        try
        {
            // Synchronous on purpose: endpoints load once, at start, before the host runs.
            return new ConfigSchema(JsonSchema.FromJsonAsync(File.ReadAllText(path)).GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is not InvalidOperationException)
        {
            throw new InvalidOperationException($"{path}: not a valid JSON schema: {e.Message}", e);
        }
    }

    public static ConfigSchema Parse(string json) => new(JsonSchema.FromJsonAsync(json).GetAwaiter().GetResult());

    /// <summary>Errors as "user_endpoint_config.field: what is wrong", sorted; empty when valid.</summary>
    public IReadOnlyList<string> Validate(JsonObject config)
    {
        var errors = _schema.Validate(config.ToJsonString());
        return errors.SelectMany(Flatten).Select(Describe).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    private static IEnumerable<ValidationError> Flatten(ValidationError e) =>
        e is ChildSchemaValidationError child && child.Errors.Count > 0
            ? child.Errors.SelectMany(kv => kv.Value).SelectMany(Flatten)
            : [e];

    private static string Describe(ValidationError e)
    {
        var path = (e.Path ?? "#").TrimStart('#').Replace('/', '.').Trim('.');
        if (e.Kind == ValidationErrorKind.NoAdditionalPropertiesAllowed || e.Kind == ValidationErrorKind.PropertyRequired)
        {
            // NJsonSchema puts the offending property in Property and its parent in Path for these kinds.
            path = string.IsNullOrEmpty(e.Property) ? path : string.Join('.', new[] { path, e.Property }.Where(p => p.Length > 0));
        }

        var field = path.Length == 0 ? "user_endpoint_config" : $"user_endpoint_config.{path}";
        return $"{field}: {Humanize(e.Kind)}";
    }

    private static string Humanize(ValidationErrorKind kind) => kind switch
    {
        ValidationErrorKind.NoAdditionalPropertiesAllowed => "is not an allowed field",
        ValidationErrorKind.PropertyRequired => "is required",
        ValidationErrorKind.IntegerExpected => "must be an integer",
        ValidationErrorKind.StringExpected => "must be a string",
        ValidationErrorKind.NumberExpected => "must be a number",
        ValidationErrorKind.BooleanExpected => "must be a boolean",
        ValidationErrorKind.ArrayExpected => "must be a list",
        ValidationErrorKind.ObjectExpected => "must be an object",
        ValidationErrorKind.NumberTooSmall => "is below the minimum",
        ValidationErrorKind.NumberTooBig => "is above the maximum",
        ValidationErrorKind.StringTooShort => "is too short",
        ValidationErrorKind.StringTooLong => "is too long",
        ValidationErrorKind.PatternMismatch => "does not match the allowed pattern",
        ValidationErrorKind.NotInEnumeration => "is not one of the allowed values",
        _ => kind.ToString(),
    };
}
