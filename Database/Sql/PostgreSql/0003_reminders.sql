-- MEP schema 0003: the reminder table for Orleans.Reminders.AdoNet 10.4.2 (AdoNetReminderTable).
-- Rows are keyed by (ServiceId, GrainId, ReminderName); GrainHash is the grain's uniform hash as a signed int, by which
-- each silo reads the reminders of its part of the hash ring. Version is the row's ETag.

CREATE TABLE mep_reminder (
    service_id    text      NOT NULL,
    grain_id      text      NOT NULL,
    reminder_name text      NOT NULL,
    start_time    timestamp NOT NULL,
    period_ms     bigint    NOT NULL CHECK (period_ms >= 0),
    grain_hash    integer   NOT NULL,
    version       integer   NOT NULL CHECK (version >= 1),
    PRIMARY KEY (service_id, grain_id, reminder_name)
);

CREATE INDEX mep_reminder_by_hash ON mep_reminder (service_id, grain_hash);

-- (ServiceId, GrainId) -> GrainId, ReminderName, StartTime, Period (ms), Version of each of the grain's reminders.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowsKey', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period_ms AS "Period", version AS "Version"
FROM mep_reminder
WHERE service_id = @ServiceId AND grain_id = @GrainId
$q$);

-- (ServiceId, GrainId, ReminderName) -> that reminder, or no row.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowKey', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period_ms AS "Period", version AS "Version"
FROM mep_reminder
WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName
$q$);

-- (ServiceId, BeginHash, EndHash) -> the reminders whose hash lies in the ring range (BeginHash, EndHash]. Hashes
-- arrive as signed ints. The provider picks key 1 for a range that does not wrap and key 2 for one that does, and
-- which test it uses for that has changed between Orleans releases; both keys therefore decide it themselves, in
-- the signed order the values are stored in. Begin = End is the full ring.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows1Key', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period_ms AS "Period", version AS "Version"
FROM mep_reminder
WHERE service_id = @ServiceId
  AND CASE WHEN @BeginHash::integer < @EndHash::integer
           THEN grain_hash > @BeginHash::integer AND grain_hash <= @EndHash::integer
           ELSE grain_hash > @BeginHash::integer OR grain_hash <= @EndHash::integer
      END
$q$);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows2Key', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period_ms AS "Period", version AS "Version"
FROM mep_reminder
WHERE service_id = @ServiceId
  AND CASE WHEN @BeginHash::integer < @EndHash::integer
           THEN grain_hash > @BeginHash::integer AND grain_hash <= @EndHash::integer
           ELSE grain_hash > @BeginHash::integer OR grain_hash <= @EndHash::integer
      END
$q$);

-- (ServiceId, GrainHash, GrainId, ReminderName, StartTime, Period) -> Version, the row's new ETag. Period arrives
-- as an int or, above int.MaxValue milliseconds, as a bigint.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpsertReminderRowKey', $q$
INSERT INTO mep_reminder (service_id, grain_id, reminder_name, start_time, period_ms, grain_hash, version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 1)
ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
SET start_time = excluded.start_time,
    period_ms = excluded.period_ms,
    grain_hash = excluded.grain_hash,
    version = CASE WHEN mep_reminder.version >= 2147483647 THEN 1 ELSE mep_reminder.version + 1 END
RETURNING version AS "Version"
$q$);

-- (ServiceId, GrainId, ReminderName, Version) -> one boolean: true when the row existed with that ETag and is gone.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowKey', $q$
WITH deleted AS (
    DELETE FROM mep_reminder
    WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName
      AND version = @Version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM deleted)
$q$);

-- (ServiceId): every reminder of the service.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowsKey', $q$
DELETE FROM mep_reminder WHERE service_id = @ServiceId
$q$);
