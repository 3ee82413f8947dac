using Npgsql;
using NpgsqlTypes;

namespace Mep.Database.Tasks;

/// <summary>
/// The task table on PostgreSQL (mep_task, migration 0004). A batch is one transaction of at most three statements,
/// each carrying all its rows as arrays (unnest), so a commit costs the same few round trips for one task or thousands.
/// </summary>
public sealed class PostgreSqlTaskTable(NpgsqlDataSource dataSource, string serviceId) : ITaskTable
{
    private const string Insert = """
        INSERT INTO mep_task (service_id, task_id, user_endpoint_id, owner_identity_id, queued_at_ticks, position, is_open,
                              record, queued, progress)
        SELECT @service, u.id, u.uep, u.owner, u.ticks, u.position, true, u.record, u.queued, u.progress
        FROM unnest(@ids, @ueps, @owners, @ticks, @positions, @records, @queued, @progress)
             AS u(id, uep, owner, ticks, position, record, queued, progress)
        ON CONFLICT (service_id, task_id) DO NOTHING
        """;

    private const string Progress = """
        UPDATE mep_task AS t SET progress = u.progress
        FROM unnest(@ids, @progress) AS u(id, progress)
        WHERE t.service_id = @service AND t.task_id = u.id AND t.is_open
        """;

    private const string Complete = """
        UPDATE mep_task AS t SET outcome = u.outcome, history = u.history, is_open = false, queued = NULL, progress = NULL
        FROM unnest(@ids, @outcomes, @histories) AS u(id, outcome, history)
        WHERE t.service_id = @service AND t.task_id = u.id AND t.outcome IS NULL
        RETURNING t.task_id
        """;

    private const string Queue = """
        SELECT task_id, queued, progress FROM mep_task
        WHERE service_id = @service AND user_endpoint_id = @uep AND is_open
        ORDER BY queued_at_ticks, position
        """;

    private const string Read = """
        SELECT task_id, owner_identity_id, record, outcome, history FROM mep_task
        WHERE service_id = @service AND task_id = ANY(@ids)
        """;

    public async Task<bool[]> WriteAsync(
        IReadOnlyList<NewTaskRow> added, IReadOnlyList<TaskProgressRow> progress, IReadOnlyList<TaskCompletionRow> completed,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (added.Count > 0)
        {
            await using var insert = Command(connection, transaction, Insert);
            Array(insert, "@ids", NpgsqlDbType.Uuid, added.Select(r => r.TaskId));
            Array(insert, "@ueps", NpgsqlDbType.Text, added.Select(r => r.UserEndpointId));
            Array(insert, "@owners", NpgsqlDbType.Text, added.Select(r => r.OwnerIdentityId));
            Array(insert, "@ticks", NpgsqlDbType.Bigint, added.Select(r => r.QueuedAtTicks));
            Array(insert, "@positions", NpgsqlDbType.Integer, added.Select(r => r.Position));
            Array(insert, "@records", NpgsqlDbType.Text, added.Select(r => r.RecordJson));
            Array(insert, "@queued", NpgsqlDbType.Text, added.Select(r => r.QueuedJson));
            Array(insert, "@progress", NpgsqlDbType.Text, added.Select(r => r.ProgressJson));
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (progress.Count > 0)
        {
            await using var update = Command(connection, transaction, Progress);
            Array(update, "@ids", NpgsqlDbType.Uuid, progress.Select(r => r.TaskId));
            Array(update, "@progress", NpgsqlDbType.Text, progress.Select(r => r.ProgressJson));
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var recorded = new bool[completed.Count];
        if (completed.Count > 0)
        {
            await using var complete = Command(connection, transaction, Complete);
            Array(complete, "@ids", NpgsqlDbType.Uuid, completed.Select(r => r.TaskId));
            Array(complete, "@outcomes", NpgsqlDbType.Text, completed.Select(r => r.OutcomeJson));
            Array(complete, "@histories", NpgsqlDbType.Text, completed.Select(r => r.HistoryJson));
            var changed = new HashSet<Guid>();
            await using (var reader = await complete.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    changed.Add(reader.GetGuid(0));
                }
            }

            for (var i = 0; i < completed.Count; i++)
            {
                recorded[i] = changed.Contains(completed[i].TaskId);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return recorded;
    }

    public async Task<IReadOnlyList<QueuedTaskRow>> ReadQueueAsync(string userEndpointId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Queue);
        command.Parameters.AddWithValue("@service", serviceId);
        command.Parameters.AddWithValue("@uep", userEndpointId);
        var rows = new List<QueuedTaskRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new QueuedTaskRow(reader.GetGuid(0), reader.GetString(1), reader.GetString(2)));
        }

        return rows;
    }

    public async Task<IReadOnlyList<StoredTaskRow>> ReadAsync(IReadOnlyCollection<Guid> taskIds, CancellationToken cancellationToken)
    {
        if (taskIds.Count == 0)
        {
            return [];
        }

        await using var command = dataSource.CreateCommand(Read);
        command.Parameters.AddWithValue("@service", serviceId);
        command.Parameters.Add(new NpgsqlParameter("@ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = taskIds.ToArray() });
        var rows = new List<StoredTaskRow>(taskIds.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new StoredTaskRow(
                reader.GetGuid(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return rows;
    }

    private NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("@service", serviceId);
        return command;
    }

    private static void Array<T>(NpgsqlCommand command, string name, NpgsqlDbType type, IEnumerable<T> values) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | type) { Value = values.ToArray() });
}
