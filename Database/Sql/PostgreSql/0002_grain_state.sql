-- MEP schema 0002: grain state for Orleans.Persistence.AdoNet 10.4.2 (AdoNetGrainStorage), with the same contract as
-- the SQLite store (Silo/Storage/SqliteStorageQueries.cs):
-- every query gets ServiceId, GrainTypeString (the [PersistentState] name), GrainIdN0 and GrainIdN1 (the key's two
-- 64-bit halves), GrainIdExtensionString (the key's string part, or NULL), GrainIdHash and GrainTypeHash; writes and
-- clears also get GrainStateVersion (the ETag as an integer, NULL when the grain has none) and writes PayloadBinary.
-- The provider compares the version a write or clear returns with the ETag it sent: no row, NULL or the same value
-- is a conflict (InconsistentStateException). So each statement changes a row only when the stored version equals
-- the one sent, and returns the new version only when it changed something. Each query runs on its own (autocommit),
-- so each check-and-change is one statement. The hashes are not used: rows are keyed on the natural key.

-- The key's string part is stored as '' plus an is-null flag, so that the whole key is the primary key (a NULL
-- cannot be part of one) and a write can rely on ON CONFLICT.
CREATE TABLE mep_grain_state (
    service_id          text        NOT NULL,
    state_name          text        NOT NULL,
    grain_id_n0         bigint      NOT NULL,
    grain_id_n1         bigint      NOT NULL,
    grain_id_string_null boolean    NOT NULL,
    grain_id_string     text        NOT NULL,
    payload             bytea,
    version             integer     NOT NULL CHECK (version >= 1),
    modified_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, state_name, grain_id_n0, grain_id_n1, grain_id_string_null, grain_id_string)
);

-- -> PayloadBinary (NULL after a clear) and Version; no row when the state was never written.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', $q$
SELECT payload AS "PayloadBinary", version AS "Version"
FROM mep_grain_state
WHERE service_id = @ServiceId
  AND state_name = @GrainTypeString
  AND grain_id_n0 = @GrainIdN0
  AND grain_id_n1 = @GrainIdN1
  AND grain_id_string_null = (@GrainIdExtensionString::text IS NULL)
  AND grain_id_string = coalesce(@GrainIdExtensionString::text, '')
$q$);

-- -> NewGrainStateVersion. Without an ETag: insert version 1 unless a row exists (then: conflict, no row). With one:
-- update when the stored version equals it. Both branches see one snapshot and at most one can change a row; a
-- concurrent writer of the same row waits for the row lock, re-checks the version and finds it changed.
-- Versions are ints to the provider (it int.Parses the ETag): they wrap to 1 instead of overflowing.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', $q$
WITH inserted AS (
    INSERT INTO mep_grain_state (service_id, state_name, grain_id_n0, grain_id_n1, grain_id_string_null,
                                 grain_id_string, payload, version)
    SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, (@GrainIdExtensionString::text IS NULL),
           coalesce(@GrainIdExtensionString::text, ''), @PayloadBinary, 1
    WHERE @GrainStateVersion::integer IS NULL
    ON CONFLICT DO NOTHING
    RETURNING version
), updated AS (
    UPDATE mep_grain_state
    SET payload = @PayloadBinary,
        version = CASE WHEN version >= 2147483647 THEN 1 ELSE version + 1 END,
        modified_at = now()
    WHERE service_id = @ServiceId
      AND state_name = @GrainTypeString
      AND grain_id_n0 = @GrainIdN0
      AND grain_id_n1 = @GrainIdN1
      AND grain_id_string_null = (@GrainIdExtensionString::text IS NULL)
      AND grain_id_string = coalesce(@GrainIdExtensionString::text, '')
      AND version = @GrainStateVersion::integer
    RETURNING version
)
SELECT version AS "NewGrainStateVersion" FROM inserted
UNION ALL
SELECT version FROM updated
$q$);

-- -> the new version. Keeps the row (and so its version line) but drops the payload.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', $q$
UPDATE mep_grain_state
SET payload = NULL,
    version = CASE WHEN version >= 2147483647 THEN 1 ELSE version + 1 END,
    modified_at = now()
WHERE service_id = @ServiceId
  AND state_name = @GrainTypeString
  AND grain_id_n0 = @GrainIdN0
  AND grain_id_n1 = @GrainIdN1
  AND grain_id_string_null = (@GrainIdExtensionString::text IS NULL)
  AND grain_id_string = coalesce(@GrainIdExtensionString::text, '')
  AND version = @GrainStateVersion::integer
RETURNING version AS "NewGrainStateVersion"
$q$);

-- With DeleteStateOnClear: removes the row. The provider needs only a value that differs from the ETag it sent (it
-- forgets the ETag afterwards), so this returns the version a clear would have produced.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteStorageKey', $q$
DELETE FROM mep_grain_state
WHERE service_id = @ServiceId
  AND state_name = @GrainTypeString
  AND grain_id_n0 = @GrainIdN0
  AND grain_id_n1 = @GrainIdN1
  AND grain_id_string_null = (@GrainIdExtensionString::text IS NULL)
  AND grain_id_string = coalesce(@GrainIdExtensionString::text, '')
  AND version = @GrainStateVersion::integer
RETURNING CASE WHEN version >= 2147483647 THEN 1 ELSE version + 1 END AS "NewGrainStateVersion"
$q$);
