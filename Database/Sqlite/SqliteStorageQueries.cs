namespace Mep.Database.Sqlite;

/// <summary>
/// The query texts that Orleans' ADO.NET grain storage reads by key from the <c>OrleansQuery</c> table.
/// </summary>
/// <remarks>
/// The contract, as read from Microsoft.Orleans.Persistence.AdoNet 10.4.2 (AdoNetGrainStorage):
/// every query gets the parameters ServiceId, GrainTypeString (the [PersistentState] name, generics normalised),
/// GrainIdN0, GrainIdN1 (the Guid halves or 0 and the integer key), GrainIdExtensionString (the key extension,
/// the whole key for string-keyed grains, or NULL), GrainIdHash and GrainTypeHash; writes and clears also get
/// GrainStateVersion (the grain's ETag as an int, NULL when it has none) and writes PayloadBinary.
/// The provider compares the version a write or clear returns with the ETag it sent: no row, a NULL, or the same
/// value means "conflict" and it throws InconsistentStateException. So each statement below changes a row only when
/// the stored version equals the sent one, and returns the new version only when it changed something.
/// We key rows on the natural key, so the two hash parameters are not used.
/// Each query is run without an explicit transaction: every statement is its own autocommit transaction, which is why
/// each version check and change is a single statement.
/// </remarks>
public static class SqliteStorageQueries
{
    public const string ReadKey = "ReadFromStorageKey";
    public const string WriteKey = "WriteToStorageKey";
    public const string ClearKey = "ClearStorageKey";
    public const string DeleteKey = "DeleteStorageKey";

    // The natural key of a state row; the extension is stored as '' plus an is-null flag so it can be in the primary key.
    private const string KeyMatch = """
        ServiceId = @ServiceId
          AND StateName = @GrainTypeString
          AND GrainIdN0 = @GrainIdN0
          AND GrainIdN1 = @GrainIdN1
          AND GrainIdStringIsNull = (@GrainIdExtensionString IS NULL)
          AND GrainIdString = IFNULL(@GrainIdExtensionString, '')
        """;

    // Versions are ints to the provider (it int.Parses the ETag): wrap instead of overflowing.
    private const string NextVersion = "CASE WHEN Version >= 2147483647 THEN 1 ELSE Version + 1 END";

    private const string Now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

    /// <summary>Columns PayloadBinary (NULL after a clear) and Version; no row when the state was never written.</summary>
    public const string Read = $"""
        SELECT Payload AS PayloadBinary, Version
        FROM MepGrainState
        WHERE {KeyMatch};
        """;

    /// <summary>
    /// Inserts when the grain has no ETag, updates when the stored version matches it; returns NewGrainStateVersion.
    /// At most one of the two statements can change a row, so the result has at most one row.
    /// </summary>
    public const string Write = $"""
        INSERT INTO MepGrainState
            (ServiceId, StateName, GrainIdN0, GrainIdN1, GrainIdStringIsNull, GrainIdString, Payload, Version, ModifiedUtc)
        SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, (@GrainIdExtensionString IS NULL),
               IFNULL(@GrainIdExtensionString, ''), @PayloadBinary, 1, {Now}
        WHERE @GrainStateVersion IS NULL
        ON CONFLICT DO NOTHING
        RETURNING Version AS NewGrainStateVersion;

        UPDATE MepGrainState
        SET Payload = @PayloadBinary, Version = {NextVersion}, ModifiedUtc = {Now}
        WHERE {KeyMatch}
          AND Version = @GrainStateVersion
        RETURNING Version AS NewGrainStateVersion;
        """;

    /// <summary>Keeps the row (and its version line) but drops the payload; returns the new version.</summary>
    public const string Clear = $"""
        UPDATE MepGrainState
        SET Payload = NULL, Version = {NextVersion}, ModifiedUtc = {Now}
        WHERE {KeyMatch}
          AND Version = @GrainStateVersion
        RETURNING Version AS NewGrainStateVersion;
        """;

    /// <summary>
    /// Used when DeleteStateOnClear is set: removes the row. The provider only needs a value that differs from the
    /// ETag it sent (it forgets the ETag afterwards), so return the version that a clear would have produced.
    /// </summary>
    public const string Delete = $"""
        DELETE FROM MepGrainState
        WHERE {KeyMatch}
          AND Version = @GrainStateVersion
        RETURNING {NextVersion} AS NewGrainStateVersion;
        """;

    /// <summary>Every key the provider reads at start (10.4.2), with our text for it.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [ReadKey] = Read,
        [WriteKey] = Write,
        [ClearKey] = Clear,
        [DeleteKey] = Delete,
    };
}
