-- MEP schema 0004: the task table (Database/Tasks/PostgreSqlTaskTable.cs). One row per accepted task: its record (read
-- by its owner), while it has no end its place and progress in its user endpoint's queue, then its end (outcome and
-- timeline). It replaces a grain-state row per task and the queue inside each user endpoint's state, so that the
-- tasks of many requests and results are written in one transaction instead of one write each.

CREATE TABLE mep_task (
    service_id        text    NOT NULL,
    task_id           uuid    NOT NULL,
    user_endpoint_id  text    NOT NULL,
    owner_identity_id text    NOT NULL,
    queued_at_ticks   bigint  NOT NULL,   -- when it was accepted (UTC .NET ticks); with position, the queue's order
    position          integer NOT NULL,   -- its index in the submission that carried it
    is_open           boolean NOT NULL,   -- in its user endpoint's queue (no end recorded yet)
    record            text    NOT NULL,   -- JSON: the task's record
    queued            text,               -- JSON: what its workers are sent; NULL once it ended
    progress          text,               -- JSON: published, timeline, placement; NULL once it ended
    outcome           text,               -- JSON: its end, NULL while it has none
    history           text,               -- JSON: its whole timeline, with the end
    PRIMARY KEY (service_id, task_id),
    CHECK (is_open = (outcome IS NULL))
);

-- A user endpoint's queue, read when its grain activates: only the open rows, in order.
CREATE INDEX mep_task_queue ON mep_task (service_id, user_endpoint_id, queued_at_ticks, position) WHERE is_open;
