-- Sync bookkeeping: per-op state in the outbox, the last synced data of each record (the base
-- of a three-way merge), the details of a sync error (e.g. the existing cloud record), number series blocks leased from the hub, a partial index on the
-- records that are not yet synced (what the tray and the issues list count).
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN base_data TEXT;
ALTER TABLE records ADD COLUMN sync_details TEXT;
CREATE INDEX records_unsynced ON records (sync_state) WHERE sync_state <> 'synced';
CREATE INDEX outbox_failed ON outbox (record_id) WHERE state IN ('error', 'conflict', 'blocked');

CREATE TABLE series (
    name   TEXT NOT NULL,
    start  INTEGER NOT NULL,
    "end"  INTEGER NOT NULL,
    next   INTEGER NOT NULL,
    PRIMARY KEY (name, start)
);
