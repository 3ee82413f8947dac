using System.Text.Json.Nodes;

namespace Mep.Tests.Identity;

/// <summary>
/// External identity mapping programs for tests: real executables (<c>/bin/sh</c> scripts) in a temporary directory.
/// Each records what it was given (<c>NAME.argv</c>, one argument a line; <c>NAME.stdin</c>; <c>NAME.env</c>) and its
/// pid (<c>NAME.pid</c>) before it does what the test asks.
/// </summary>
internal sealed class MappingPrograms(string dir)
{
    public string Directory => dir;

    /// <summary>A program that records its input, then runs <paramref name="body"/> (shell).</summary>
    public string Write(string name, string body)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, $"""
            #!/bin/sh
            echo $$ > '{dir}/{name}.pid'
            printf '%s\n' "$@" > '{dir}/{name}.argv'
            cat > '{dir}/{name}.stdin'
            env > '{dir}/{name}.env'
            {body}

            """);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    /// <summary>A program that records its input and prints <paramref name="stdout"/> as it is, then exits with <paramref name="exitCode"/>.</summary>
    public string Answering(string name, string stdout, int exitCode = 0) => Write(name, $"""
        cat <<'ANSWER'
        {stdout}
        ANSWER
        exit {exitCode}
        """);

    /// <summary>An <c>identity_mapping_output#1.0.0</c> answer with these (id, output) pairs, in this order.</summary>
    public static string Output(params (string Id, string Output)[] results) => new JsonObject
    {
        ["DATA_TYPE"] = "identity_mapping_output#1.0.0",
        ["result"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject { ["id"] = r.Id, ["output"] = r.Output }).ToArray()),
    }.ToJsonString();

    /// <summary>A mapping file's JSON list with one external document running <paramref name="command"/>.</summary>
    public static JsonObject External(params string[] command) => new()
    {
        ["DATA_TYPE"] = "external_identity_mapping#1.0.0",
        ["command"] = new JsonArray(command.Select(c => (JsonNode)c).ToArray()),
    };

    /// <summary>An expression document mapping <c>{username}</c> matching <paramref name="match"/> to <paramref name="output"/>.</summary>
    public static JsonObject Expression(string match, string output) => new()
    {
        ["DATA_TYPE"] = "expression_identity_mapping#1.0.0",
        ["mappings"] = new JsonArray(new JsonObject { ["source"] = "{username}", ["match"] = match, ["output"] = output }),
    };

    public static string Mapping(params JsonObject[] documents) => new JsonArray(documents.Select(d => (JsonNode)d).ToArray()).ToJsonString();

    public string[] Argv(string name) => File.ReadAllLines(Path.Combine(dir, name + ".argv"));

    public JsonObject Stdin(string name) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name + ".stdin")))!.AsObject();

    public string[] Env(string name) => File.ReadAllLines(Path.Combine(dir, name + ".env"));

    public int Pid(string name) => int.Parse(File.ReadAllText(Path.Combine(dir, name + ".pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// True when the process no longer runs: no such pid, or a zombie (dead, waiting for a parent that may never
    /// reap it: a killed child is reparented to pid 1, which in a container need not reap).
    /// </summary>
    public static bool Gone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The state follows the command name in parentheses, which may itself contain ')'.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is 'Z' or 'X';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }
}
