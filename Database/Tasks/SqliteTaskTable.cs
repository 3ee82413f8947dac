using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Mep.Database.Tasks;

/// <summary>
/// The task table in the silo's SQLite file (table MepTask, created by the storage schema, version 2). One transaction
/// per batch of writes: with synchronous=FULL that is one fsync for everything the batch carries.
/// </summary>
public sealed class SqliteTaskTable(DbDataSource dataSource, string serviceId) : ITaskTable
{
    private const string Insert = """
        INSERT INTO MepTask (ServiceId, TaskId, UserEndpointId, OwnerIdentityId, QueuedAtTicks, Position, IsOpen, Record, Queued, Progress)
        VALUES (@service, @id, @uep, @owner, @ticks, @position, 1, @record, @queued, @progress)
        ON CONFLICT (ServiceId, TaskId) DO NOTHING;
        """;

    private const string Progress = """
        UPDATE MepTask SET Progress = @progress
        WHERE ServiceId = @service AND TaskId = @id AND IsOpen = 1;
        """;

    private const string Complete = """
        UPDATE MepTask SET Outcome = @outcome, History = @history, IsOpen = 0, Queued = NULL, Progress = NULL
        WHERE ServiceId = @service AND TaskId = @id AND Outcome IS NULL;
        """;

    private const string Queue = """
        SELECT TaskId, Queued, Progress FROM MepTask
        WHERE ServiceId = @service AND UserEndpointId = @uep AND IsOpen = 1
        ORDER BY QueuedAtTicks, Position;
        """;

    private const string Read = """
        SELECT TaskId, OwnerIdentityId, Record, Outcome, History FROM MepTask
        WHERE ServiceId = @service AND TaskId IN (SELECT value FROM json_each(@ids));
        """;

    public async Task<bool[]> WriteAsync(
        IReadOnlyList<NewTaskRow> added, IReadOnlyList<TaskProgressRow> progress, IReadOnlyList<TaskCompletionRow> completed,
        CancellationToken cancellationToken)
    {
        var recorded = new bool[completed.Count];
        await using var connection = (SqliteConnection)await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // IMMEDIATE: take the write lock now rather than fail an upgrade from a read lock halfway through the batch.
        await using var transaction = connection.BeginTransaction(deferred: false);
        if (added.Count > 0)
        {
            await using var insert = Command(connection, transaction, Insert, "@id", "@uep", "@owner", "@ticks", "@position", "@record", "@queued", "@progress");
            foreach (var row in added)
            {
                Set(insert, Key(row.TaskId), row.UserEndpointId, row.OwnerIdentityId, row.QueuedAtTicks, row.Position, row.RecordJson, row.QueuedJson, row.ProgressJson);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (progress.Count > 0)
        {
            await using var update = Command(connection, transaction, Progress, "@id", "@progress");
            foreach (var row in progress)
            {
                Set(update, Key(row.TaskId), row.ProgressJson);
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (completed.Count > 0)
        {
            await using var complete = Command(connection, transaction, Complete, "@id", "@outcome", "@history");
            for (var i = 0; i < completed.Count; i++)
            {
                Set(complete, Key(completed[i].TaskId), completed[i].OutcomeJson, completed[i].HistoryJson);
                recorded[i] = await complete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return recorded;
    }

    public async Task<IReadOnlyList<QueuedTaskRow>> ReadQueueAsync(string userEndpointId, CancellationToken cancellationToken)
    {
        await using var connection = (SqliteConnection)await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, Queue, "@uep");
        Set(command, userEndpointId);
        var rows = new List<QueuedTaskRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new QueuedTaskRow(Guid.Parse(reader.GetString(0)), reader.GetString(1), reader.GetString(2)));
        }

        return rows;
    }

    public async Task<IReadOnlyList<StoredTaskRow>> ReadAsync(IReadOnlyCollection<Guid> taskIds, CancellationToken cancellationToken)
    {
        if (taskIds.Count == 0)
        {
            return [];
        }

        await using var connection = (SqliteConnection)await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, Read, "@ids");
        // One parameter however many ids: SQLite limits the number of parameters, not the length of a JSON array.
        Set(command, JsonSerializer.Serialize(taskIds.Select(Key)));
        var rows = new List<StoredTaskRow>(taskIds.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new StoredTaskRow(
                Guid.Parse(reader.GetString(0)),
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return rows;
    }

    /// <summary>Ids as lower-case text, the form every row and lookup uses.</summary>
    private static string Key(Guid id) => id.ToString("D");

    private SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.Parameters.AddWithValue("@service", serviceId);
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    /// <summary>Sets the command's own parameters (all but the service id, which is the first) in order.</summary>
    private static void Set(SqliteCommand command, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i + 1].Value = values[i];
        }
    }
}
