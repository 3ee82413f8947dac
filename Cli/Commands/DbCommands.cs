using System.CommandLine;
using Mep.Database.Migrations;
using Mep.Database.PostgreSql;
using Npgsql;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep db init</c> and <c>mep db status</c>: MEP's schema in a PostgreSQL database. Init runs as the schema owner
/// (the silo's own role needs only row rights, given with --grant-to). Exit codes: 0 done or up to date, 1 the
/// database's schema is refused (edited migration, newer schema) or, for status, not up to date, 2 usage or
/// connection errors.
/// </summary>
internal static class DbCommands
{
    public const int ExitSchemaRefused = 1;

    public static Command Create(CliContext context)
    {
        var db = new Command("db", "Set up and check MEP's database schema (PostgreSQL)");
        db.Subcommands.Add(Init(context));
        db.Subcommands.Add(Status(context));
        return db;
    }

    private static Option<string> ProviderOption() => new Option<string>("--provider")
    {
        Description = "Database provider: postgresql (the SQLite store is set up by the silo itself at start)",
        DefaultValueFactory = _ => "postgresql",
    }.AcceptOnlyFromAmong("postgresql");

    private static Option<string> ConnectionFileOption() => new("--connection-string-file")
    {
        Description = "File (mode 0600) holding the Npgsql connection string, e.g. Host=…;Port=…;Database=…;Username=…;Password=…",
        Required = true,
    };

    private static Command Init(CliContext context)
    {
        var provider = ProviderOption();
        var connectionFile = ConnectionFileOption();
        var grantTo = new Option<string[]>("--grant-to")
        {
            Description = "Role the silo connects as: gets row rights on MEP's tables and read rights on its queries (repeatable)",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("init", "Apply the migrations the database lacks (idempotent; safe to run from several nodes at once)")
        {
            provider, connectionFile, grantTo,
        };
        SetAction(context, command, async (parse, ct) =>
        {
            var path = parse.GetRequiredValue(connectionFile);
            await using var source = OpenDataSource(path);
            var result = await Run(source, () => PostgreSqlSchema.MigrateAsync(source, parse.GetValue(grantTo) ?? [], ct));
            foreach (var migration in result.Applied)
            {
                context.Out.WriteLine($"applied {migration.Version:D4}_{migration.Name}");
            }
            context.Out.WriteLine(result.Applied.Count == 0
                ? $"up to date (schema version {result.ToVersion})"
                : $"schema version {result.FromVersion} -> {result.ToVersion}");
            foreach (var role in result.GrantedTo)
            {
                context.Out.WriteLine($"granted runtime rights to {role}");
            }
            return CliContext.ExitOk;
        });
        return command;
    }

    private static Command Status(CliContext context)
    {
        var provider = ProviderOption();
        var connectionFile = ConnectionFileOption();
        var command = new Command("status", "Print the applied migrations; exit 0 only if the schema is what this program expects")
        {
            provider, connectionFile,
        };
        SetAction(context, command, async (parse, ct) =>
        {
            await using var source = OpenDataSource(parse.GetRequiredValue(connectionFile));
            var version = await Run(source, () => PostgreSqlSchema.VerifyAsync(source, ct));
            await using var connection = await source.OpenConnectionAsync(ct);
            foreach (var row in await PostgreSqlSchema.ReadAppliedAsync(connection, null, ct))
            {
                context.Out.WriteLine($"{row.Version:D4}_{row.Name} {row.Sha256[..12]} applied {row.AppliedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z");
            }
            context.Out.WriteLine($"up to date (schema version {version})");
            return CliContext.ExitOk;
        });
        return command;
    }

    private static NpgsqlDataSource OpenDataSource(string path)
    {
        try
        {
            return NpgsqlDataSource.Create(ConnectionStringFile.Read(path));
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--connection-string-file: {e.Message}");
        }
    }

    /// <summary>A refused schema (SchemaException) is exit 1 with its one-line message.</summary>
    private static void SetAction(CliContext context, Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        context.SetAction(command, async (parse, ct) =>
        {
            try
            {
                return await action(parse, ct);
            }
            catch (SchemaException e)
            {
                context.Error.WriteLine("mep: " + e.Message.ReplaceLineEndings(" "));
                return ExitSchemaRefused;
            }
        });

    /// <summary>Turns the database's errors into one-line usage errors (exit 2) naming the database and the cause.</summary>
    private static async Task<T> Run<T>(NpgsqlDataSource source, Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (PostgresException e)
        {
            throw new UsageException($"{Describe(source)}: {e.MessageText} (SQLSTATE {e.SqlState})");
        }
        catch (NpgsqlException e)
        {
            throw new UsageException($"cannot use {Describe(source)}: {e.Message}");
        }
    }

    private static string Describe(NpgsqlDataSource source)
    {
        var b = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        return $"database {b.Database} on {b.Host}:{b.Port} as {b.Username}";
    }
}
