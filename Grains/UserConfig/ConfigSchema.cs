using System.Text.Json.Nodes;
using NJsonSchema;
using NJsonSchema.Validation;

namespace Mep.Grains.UserConfig;

/// <summary>
/// The admin's JSON schema for user endpoint configs (NJsonSchema), checked first by <see cref="SchemaMetaCheck"/>
/// because NJsonSchema reads much that is not JSON Schema without complaint. <see cref="AcceptAll"/> stands for no
/// schema: any options are accepted (the template and the UEP config model still apply).
/// </summary>
public sealed class ConfigSchema
{
    private readonly JsonSchema? _schema;

    private ConfigSchema(JsonSchema? schema) => _schema = schema;

    /// <summary>No schema configured: every JSON object is valid.</summary>
    public static ConfigSchema AcceptAll { get; } = new(null);

    /// <summary>Reads and checks the schema file; any fault is an <see cref="InvalidOperationException"/> naming the file.</summary>
    public static ConfigSchema Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{path}: cannot be read: {e.Message}", e);
        }

        return Parse(text, path);
    }

    /// <summary>Checks and reads a schema; any fault is an <see cref="InvalidOperationException"/> starting with <paramref name="path"/>.</summary>
    public static ConfigSchema Parse(string json, string path = "<schema>")
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidOperationException($"{path}: not valid JSON: {e.Message}", e);
        }

        try
        {
            SchemaMetaCheck.Check(root);
            if (root is JsonObject o && o["type"] is { } type && type.ToJsonString() != "\"object\"")
            {
                throw new InvalidOperationException($"#/type: a user endpoint config is an object, so the schema's type must be \"object\", got {type.ToJsonString()}");
            }

            // Synchronous on purpose: endpoints load at start, before the host runs. No document path: nothing outside
            // the text is ever read (the meta-check has refused external references already).
            return new ConfigSchema(JsonSchema.FromJsonAsync(json).GetAwaiter().GetResult());
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"{path}: not a valid JSON schema: {e.Message}", e);
        }
    }

    /// <summary>Errors as "user_endpoint_config.field: what is wrong", sorted; empty when valid.</summary>
    public IReadOnlyList<string> Validate(JsonObject config)
    {
        if (_schema is null)
        {
            return [];
        }

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
            // Older NJsonSchema versions put the offending property in Property and only its parent in Path.
            var last = path.Split('.')[^1];
            path = string.IsNullOrEmpty(e.Property) || last == e.Property
                ? path
                : string.Join('.', new[] { path, e.Property }.Where(p => p.Length > 0));
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
        ValidationErrorKind.NullExpected => "must be null",
        ValidationErrorKind.TooManyItems => "has too many items",
        ValidationErrorKind.TooFewItems => "has too few items",
        ValidationErrorKind.ItemsNotUnique => "has duplicate items",
        ValidationErrorKind.TooManyProperties => "has too many fields",
        ValidationErrorKind.TooFewProperties => "has too few fields",
        ValidationErrorKind.NumberNotMultipleOf => "is not an allowed multiple",
        ValidationErrorKind.NotAnyOf => "matches none of the allowed forms",
        ValidationErrorKind.NotOneOf => "does not match exactly one of the allowed forms",
        ValidationErrorKind.NotAllOf => "does not match all required forms",
        ValidationErrorKind.ExcludedSchemaValidates => "matches a form that is not allowed",
        ValidationErrorKind.AdditionalItemNotValid => "has an item that is not allowed",
        ValidationErrorKind.ArrayItemNotValid => "has an item that is not valid",
        ValidationErrorKind.DateTimeExpected => "must be a date-time",
        ValidationErrorKind.DateExpected => "must be a date",
        ValidationErrorKind.EmailExpected => "must be an e-mail address",
        ValidationErrorKind.UriExpected => "must be a URI",
        ValidationErrorKind.GuidExpected or ValidationErrorKind.UuidExpected => "must be a UUID",
        ValidationErrorKind.AdditionalPropertiesNotValid => "is not an allowed field",
        _ => kind.ToString(),
    };
}
