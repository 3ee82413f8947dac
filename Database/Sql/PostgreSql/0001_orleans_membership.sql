-- MEP schema 0001: the query table the Orleans ADO.NET providers read at start, and cluster membership.
-- Written for MEP against the query keys of Orleans.Clustering.AdoNet 10.4.2 (the comment above each query gives its
-- parameters and result columns). Applied once by `mep db init`, as the schema owner, in one transaction.
--
-- Unquoted names fold to lower case; the providers' own reads (SELECT QueryKey, QueryText FROM OrleansQuery) and
-- Npgsql's case-insensitive column lookup both rely on that. Result columns are aliased to the exact names the
-- providers ask for anyway.

CREATE TABLE OrleansQuery (
    QueryKey  varchar(64) PRIMARY KEY,
    QueryText text        NOT NULL
);

-- One row per cluster (Orleans' "deployment", our ClusterId). Every membership change bumps version by one, under the
-- optimistic check that the writer read the version it names: that is the provider's whole concurrency model.
CREATE TABLE mep_cluster_version (
    deployment_id text        PRIMARY KEY,
    version       integer     NOT NULL DEFAULT 0 CHECK (version >= 0),
    changed_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per silo incarnation (address, port, generation). Times are the silos' own UTC clocks as sent, kept
-- without a zone because the provider binds them as DbType.DateTime; suspect_times is the provider's own
-- "address,time|address,time" text, kept verbatim.
CREATE TABLE mep_cluster_member (
    deployment_id   text      NOT NULL REFERENCES mep_cluster_version (deployment_id) ON DELETE CASCADE,
    address         text      NOT NULL,
    port            integer   NOT NULL,
    generation      integer   NOT NULL,
    silo_name       text      NOT NULL,
    host_name       text      NOT NULL,
    status          integer   NOT NULL,
    proxy_port      integer   NOT NULL,
    suspect_times   text,
    start_time      timestamp NOT NULL,
    i_am_alive_time timestamp NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- (DeploymentId) -> one boolean: true when this call created the cluster's version row.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO mep_cluster_version (deployment_id) VALUES (@DeploymentId)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM created)
$q$);

-- (DeploymentId) -> the table version, and one row per member. The version row is the left side so that a cluster
-- without members still yields its version (with NULL StartTime, which the provider reads as "no member").
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadAllKey', $q$
SELECT v.version AS "Version",
       m.address AS "Address", m.port AS "Port", m.generation AS "Generation",
       m.silo_name AS "SiloName", m.host_name AS "HostName", m.status AS "Status", m.proxy_port AS "ProxyPort",
       m.suspect_times AS "SuspectTimes", m.start_time AS "StartTime", m.i_am_alive_time AS "IAmAliveTime"
FROM mep_cluster_version v
LEFT JOIN mep_cluster_member m ON m.deployment_id = v.deployment_id
WHERE v.deployment_id = @DeploymentId
$q$);

-- (DeploymentId, Address, Port, Generation) -> the table version, and the member's row if it exists.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadRowKey', $q$
SELECT v.version AS "Version",
       m.address AS "Address", m.port AS "Port", m.generation AS "Generation",
       m.silo_name AS "SiloName", m.host_name AS "HostName", m.status AS "Status", m.proxy_port AS "ProxyPort",
       m.suspect_times AS "SuspectTimes", m.start_time AS "StartTime", m.i_am_alive_time AS "IAmAliveTime"
FROM mep_cluster_version v
LEFT JOIN mep_cluster_member m
       ON m.deployment_id = v.deployment_id
      AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
WHERE v.deployment_id = @DeploymentId
$q$);

-- (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort, StartTime, IAmAliveTime, Version)
-- -> one boolean. Bumps the version only if it still is @Version and the member is new, then inserts the member:
-- one statement, so the version row's lock orders concurrent writers and the loser sees the new version.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipKey', $q$
WITH bumped AS (
    UPDATE mep_cluster_version
    SET version = version + 1, changed_at = now()
    WHERE deployment_id = @DeploymentId
      AND version = @Version
      AND NOT EXISTS (SELECT 1 FROM mep_cluster_member
                      WHERE deployment_id = @DeploymentId
                        AND address = @Address AND port = @Port AND generation = @Generation)
    RETURNING deployment_id
), inserted AS (
    INSERT INTO mep_cluster_member (deployment_id, address, port, generation, silo_name, host_name, status,
                                    proxy_port, suspect_times, start_time, i_am_alive_time)
    SELECT deployment_id, @Address, @Port, @Generation, @SiloName, @HostName, @Status,
           @ProxyPort, NULL, @StartTime, @IAmAliveTime
    FROM bumped
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM inserted)
$q$);

-- (DeploymentId, Address, Port, Generation, Status, SuspectTimes, IAmAliveTime, Version) -> one boolean.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateMembershipKey', $q$
WITH bumped AS (
    UPDATE mep_cluster_version
    SET version = version + 1, changed_at = now()
    WHERE deployment_id = @DeploymentId
      AND version = @Version
      AND EXISTS (SELECT 1 FROM mep_cluster_member
                  WHERE deployment_id = @DeploymentId
                    AND address = @Address AND port = @Port AND generation = @Generation)
    RETURNING deployment_id
), updated AS (
    UPDATE mep_cluster_member m
    SET status = @Status, suspect_times = @SuspectTimes, i_am_alive_time = @IAmAliveTime
    FROM bumped
    WHERE m.deployment_id = bumped.deployment_id
      AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM updated)
$q$);

-- (DeploymentId, Address, Port, Generation, IAmAliveTime): the heartbeat. It is not a membership change, so it leaves
-- the version alone (as Orleans expects: IAmAlive must never make a concurrent status update fail).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateIAmAlivetimeKey', $q$
UPDATE mep_cluster_member
SET i_am_alive_time = @IAmAliveTime
WHERE deployment_id = @DeploymentId
  AND address = @Address AND port = @Port AND generation = @Generation
$q$);

-- (DeploymentId): forget the cluster (members go with the version row).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteMembershipTableEntriesKey', $q$
DELETE FROM mep_cluster_version WHERE deployment_id = @DeploymentId
$q$);

-- (DeploymentId, Status = Active) -> Address, ProxyPort, Generation of every gateway a client may use.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('GatewaysQueryKey', $q$
SELECT address AS "Address", proxy_port AS "ProxyPort", generation AS "Generation"
FROM mep_cluster_member
WHERE deployment_id = @DeploymentId
  AND status = @Status
  AND proxy_port > 0
$q$);

-- (DeploymentId, IAmAliveTime = cutoff): the provider's fallback when the per-row key below is missing. Only rows of
-- dead silos (status 6) whose start and last heartbeat are both older than the cutoff.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM mep_cluster_member
WHERE deployment_id = @DeploymentId
  AND status = 6
  AND i_am_alive_time < @IAmAliveTime
  AND start_time < @IAmAliveTime
$q$);

-- (DeploymentId, Address, Port, Generation, SuspectTimes, StartTime, IAmAliveTime): the provider decided in .NET that
-- this dead row is defunct, from values it just read; delete it only if it still holds exactly those values.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('CleanupDefunctSiloEntryKey', $q$
DELETE FROM mep_cluster_member
WHERE deployment_id = @DeploymentId
  AND address = @Address AND port = @Port AND generation = @Generation
  AND status = 6
  AND start_time = @StartTime
  AND i_am_alive_time = @IAmAliveTime
  AND suspect_times IS NOT DISTINCT FROM @SuspectTimes
$q$);
