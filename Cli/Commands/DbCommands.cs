using System.CommandLine;
using Mep.Database.Migrations;
using Mep.Database.PostgreSql;
using Npgsql;

namespace Mep.Cli.Commands;

/// <summary>
/// <c>mep db init</c> and <c>mep db status</c>: MEP's schema in a PostgreSQL database (init runs as the schema owner;
/// the silo's own role needs only row rights, given with --grant-to) or in a single node's SQLite file (which the
/// silo also sets up itself at start; init lets an admin prepare or upgrade it beforehand, as the silo's account).
/// Exit codes: 0 done or up to date, 1 the database's schema is refused (edited migration, newer schema) or, for
/// status, not up to date, 2 usage or connection errors.
/// </summary>
internal static class DbCommands
{
    public const int ExitSchemaRefused = 1;

    public static Command Create(CliContext context)
    {
        var db = new Command("db", "Set up and check MEP's database schema (PostgreSQL, or a single node's SQLite file)");
        db.Subcommands.Add(Init(context));
        db.Subcommands.Add(Status(context));
        return db;
    }

    private static Option<string> ProviderOption() => new Option<string>("--provider")
    {
        Description = "Database provider: postgresql (several nodes) or sqlite (one node's file, --database)",
        DefaultValueFactory = _ => Postgres,
    }.AcceptOnlyFromAmong(Postgres, Sqlite);

    private const string Postgres = "postgresql";
    private const string Sqlite = "sqlite";

    private static Option<string?> ConnectionFileOption() => new("--connection-string-file")
    {
        Description = "postgresql: file (mode 0600) holding the Npgsql connection string, e.g. Host=…;Port=…;Database=…;Username=…;Password=…",
    };

    private static Option<string?> DatabaseFileOption() => new("--database")
    {
        Description = "sqlite: the database file (the silo's DataDirectory/mep.db)",
    };

    /// <summary>The option the chosen provider needs, and none of the other's: a usage error naming the option otherwise.</summary>
    private static string Target(ParseResult parse, Option<string> provider, Option<string?> connectionFile, Option<string?> database)
    {
        var (file, db) = (parse.GetValue(connectionFile), parse.GetValue(database));
        return parse.GetValue(provider) == Sqlite
            ? db is null ? throw new UsageException("--database: required with --provider sqlite")
                : file is not null ? throw new UsageException("--connection-string-file: not used with --provider sqlite") : db
            : file is null ? throw new UsageException("--connection-string-file: required with --provider postgresql")
                : db is not null ? throw new UsageException("--database: only with --provider sqlite") : file;
    }

    private static Command Init(CliContext context)
    {
        var provider = ProviderOption();
        var connectionFile = ConnectionFileOption();
        var database = DatabaseFileOption();
        var grantTo = new Option<string[]>("--grant-to")
        {
            Description = "Role the silo connects as: gets row rights on MEP's tables and read rights on its queries (repeatable)",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("init", "Apply the migrations the database lacks (idempotent; safe to run from several nodes at once)")
        {
            provider, connectionFile, database, grantTo,
        };
        SetAction(context, command, async (parse, ct) =>
        {
            var path = Target(parse, provider, connectionFile, database);
            if (parse.GetValue(provider) == Sqlite)
            {
                if (parse.GetValue(grantTo) is { Length: > 0 })
                {
                    throw new UsageException("--grant-to: only with --provider postgresql (a SQLite file is its owner's: run init as the silo's account)");
                }
                return await SqliteDb.InitAsync(context, path, ct);
            }

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
        var database = DatabaseFileOption();
        var command = new Command("status", "Print the applied migrations; exit 0 only if the schema is what this program expects")
        {
            provider, connectionFile, database,
        };
        SetAction(context, command, async (parse, ct) =>
        {
            var path = Target(parse, provider, connectionFile, database);
            if (parse.GetValue(provider) == Sqlite)
            {
                return await SqliteDb.StatusAsync(context, path, ct);
            }

            await using var source = OpenDataSource(path);
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
