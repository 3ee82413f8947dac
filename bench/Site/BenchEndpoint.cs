namespace Mep.Bench.Site;

/// <summary>
/// The endpoint the harness serves: one identity (<see cref="Identity"/>) mapped to the bench account, and a template
/// that takes the worker count and a label from the user's config. N user endpoints come from one user with N labels,
/// as in the paper (one executor, a random description per UEP), rather than from N Unix accounts.
/// </summary>
internal static class BenchEndpoint
{
    public const string Id = "b3c4e9d0-5e7a-4c1b-9d2e-0000000be9c0";
    public const string Identity = "bench@bench.example.org";

    public static void Write(string directory, string benchUser)
    {
        Directory.CreateDirectory(directory);
        // The limits are raised for a benchmark node: the defaults (32 live UEPs per account, 30 starts a minute, 16
        // concurrent starts) would refuse the 64-UEP and 200-UEP experiments with 429s before MEP itself is measured.
        File.WriteAllText(Path.Combine(directory, "config.yaml"), $"""
            endpoint_id: {Id}
            display_name: mep-bench
            identity_mapping: identity_mapping.json
            user_config_template: user_config_template.yaml.j2
            user_config_schema: user_config_schema.json
            allowed_functions: []
            allowed_domains: [bench.example.org]
            idle_timeout: 15m
            heartbeat_period: 30s
            max_walltime: 1h
            stop_grace_period: 5s
            tasks_on_stop: fail
            max_user_endpoints_per_user: 1000
            max_starts_per_minute: 10000
            max_concurrent_starts: 64
            """);
        File.WriteAllText(Path.Combine(directory, "identity_mapping.json"), $$"""
            [{"DATA_TYPE": "expression_identity_mapping#1.0.0",
              "mappings": [{"source": "{username}", "match": "bench@bench\\.example\\.org", "output": "{{benchUser}}"}]}]
            """);
        File.WriteAllText(Path.Combine(directory, "user_config_schema.json"), """
            {"type": "object", "additionalProperties": false,
             "properties": {"label": {"type": "string", "maxLength": 128}, "workers": {"type": "integer", "minimum": 1, "maximum": 64}}}
            """);
        File.WriteAllText(Path.Combine(directory, "user_config_template.yaml.j2"), """
            display_name: {{ label | default: "bench" }}
            engine:
              max_workers_per_node: {{ workers | default: 1 }}
              provider:
                type: local
            """);
    }
}
