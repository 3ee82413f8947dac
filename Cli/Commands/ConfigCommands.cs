using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mep.Grains.UserConfig;
using Mep.Identity;
using Mep.Protocol.Config;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep config render</c>: an endpoint's template and schema applied to a user config, with the code the silo runs,
/// so admins can check their files and answer users' questions. Exit codes: 0 rendered; 1 the user's input is at fault
/// (schema violation, reserved option, undefined variable, a rendered config the model refuses with --validate);
/// 2 the admin's files or the command line are at fault (invalid template or schema, unreadable file, bad option).
/// </summary>
internal static class ConfigCommands
{
    public const int ExitUserInput = 1;

    /// <summary>Stands for the federated identity when <c>--user</c> names only a local account.</summary>
    public const string PlaceholderIdentityId = "00000000-0000-0000-0000-000000000000";

    public static Command Create(CliContext context)
    {
        var config = new Command("config", "Check user endpoint config templates and schemas");
        config.Subcommands.Add(Render(context));
        return config;
    }

    private static Command Render(CliContext context)
    {
        var template = new Option<string>("--template") { Description = "The endpoint's user_config_template.yaml.j2", Required = true };
        var schema = new Option<string>("--schema") { Description = "The endpoint's user_config_schema.json (absent: any options)" };
        var userConfig = new Option<string>("--user-config") { Description = "The user's options: a JSON object, or @FILE", Required = true };
        var runtime = new Option<string>("--runtime") { Description = "What the client says about itself (_GC.user_runtime): a JSON object, or @FILE" };
        var mapped = new Option<string>("--mapped-identity")
        {
            Description = "_GC.mapped_identity as JSON: {\"local\": {\"uname\": ..., \"uid\": ..., ...}, \"identity\": {\"id\": ...}}, or @FILE",
        };
        var user = new Option<string>("--user") { Description = "Read _GC.mapped_identity.local from this node's account (and its groups)" };
        var parent = new Option<string>("--parent-config") { Description = "The endpoint's config.yaml (_GC.parent_config)" };
        var validate = new Option<bool>("--validate") { Description = "Also check the rendered config against the user endpoint config model" };
        var command = new Command("render", "Print the config a user endpoint would get for a user config")
        {
            template, schema, userConfig, runtime, mapped, user, parent, validate,
        };
        context.SetAction(command, (parse, _) =>
        {
            if (parse.GetValue(mapped) is not null && parse.GetValue(user) is not null)
            {
                throw new UsageException("give --mapped-identity or --user, not both");
            }

            // The admin's side first: a broken template is the answer whatever the user sent.
            var loadedTemplate = AdminFile("--template", parse.GetRequiredValue(template), path => ConfigTemplate.Load(path));
            var loadedSchema = parse.GetValue(schema) is { } schemaPath ? AdminFile("--schema", schemaPath, ConfigSchema.Load) : ConfigSchema.AcceptAll;
            var parentConfig = parse.GetValue(parent) is { } parentPath
                ? AdminFile("--parent-config", parentPath, p => YamlToJson.Convert(File.ReadAllText(p)))
                : null;
            var mappedIdentity = parse.GetValue(user) is { } name ? FromAccount(name)
                : parse.GetValue(mapped) is { } mappedText ? JsonObjectOption("--mapped-identity", mappedText) ?? throw new UsageException("--mapped-identity is empty")
                : new JsonObject();

            JsonObject options;
            JsonObject? runtimeInfo;
            try
            {
                options = JsonObjectOption("--user-config", parse.GetRequiredValue(userConfig))!;
                runtimeInfo = parse.GetValue(runtime) is { } runtimeText ? JsonObjectOption("--runtime", runtimeText) : null;
            }
            catch (UsageException e)
            {
                return Task.FromResult(UserFault(context, e.Message));
            }

            if (TemplateVariables.ReservedOption(options) is { } reserved)
            {
                return Task.FromResult(UserFault(context, $"user_endpoint_config.{reserved}: is a reserved name (the endpoint supplies it to its template)"));
            }

            var errors = loadedSchema.Validate(options);
            if (errors.Count > 0)
            {
                return Task.FromResult(UserFault(context, string.Join("; ", errors)));
            }

            string yaml;
            try
            {
                yaml = loadedTemplate.Render(options, TemplateVariables.Gc(mappedIdentity, runtimeInfo, parentConfig));
            }
            catch (TemplateRenderException e)
            {
                return Task.FromResult(UserFault(context, $"the template cannot be rendered with this user config: {e.Message}"));
            }

            context.Out.WriteLine(yaml);
            if (parse.GetValue(validate))
            {
                try
                {
                    UepConfigReader.Read(YamlToJson.Convert(yaml));
                }
                catch (Exception e) when (e is UepConfigException or TemplateRenderException)
                {
                    return Task.FromResult(UserFault(context, $"the rendered config is not valid: {e.Message}"));
                }
            }

            return Task.FromResult(CliContext.ExitOk);
        });
        return command;
    }

    private static int UserFault(CliContext context, string message)
    {
        context.Error.WriteLine("mep: " + message.ReplaceLineEndings(" "));
        return ExitUserInput;
    }

    private static T AdminFile<T>(string option, string path, Func<string, T> load)
    {
        try
        {
            return load(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TemplateRenderException)
        {
            // Loaders name the file already; an I/O error does not.
            throw new UsageException(e.Message.Contains(path, StringComparison.Ordinal) ? e.Message : $"{option} {path}: {e.Message}");
        }
    }

    private static JsonObject FromAccount(string name)
    {
        var account = LocalAccounts.Find(name) ?? throw new UsageException($"--user {name}: no such account on this node");
        return TemplateVariables.MappedIdentity(account, PlaceholderIdentityId);
    }

    /// <summary>Inline JSON or <c>@FILE</c>; must be an object. Faults are <see cref="UsageException"/>s naming the option.</summary>
    private static JsonObject? JsonObjectOption(string option, string text)
    {
        var json = text;
        if (text.StartsWith('@'))
        {
            try
            {
                json = File.ReadAllText(text[1..]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{option} file '{text[1..]}' cannot be read: {e.Message}");
            }
        }

        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new UsageException($"{option} must be a JSON object ({{...}})");
        }
        catch (JsonException e)
        {
            throw new UsageException($"{option} is not valid JSON: {e.Message}");
        }
    }
}
