-- outbox.state may hold only the states of agent/store/states.py (OutboxState): a CHECK
-- constraint. SQLite adds one only by rebuilding the table: a new table, the rows copied, the
-- old one dropped, the new one renamed, its indexes made again. The AUTOINCREMENT counter is
-- carried over first, so an op never gets the seq of one already pushed. A state outside the
-- list (none was ever written; `syncing` was handled but never stored) becomes `pending`:
-- sending an op again is safe, the hub remembers op ids.
CREATE TABLE outbox_new (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
    record_id    TEXT NOT NULL,
    collection   TEXT NOT NULL,
    action       TEXT NOT NULL,
    base_version INTEGER,
    data         TEXT,
    created_at   TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CONSTRAINT outbox_state CHECK (state IN ('pending', 'blocked', 'error', 'conflict')),
    attempts     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';
INSERT INTO outbox_new (seq, op_id, record_id, collection, action, base_version, data,
                        created_at, state, attempts)
    SELECT seq, op_id, record_id, collection, action, base_version, data, created_at,
           CASE WHEN state IN ('pending', 'blocked', 'error', 'conflict') THEN state
                ELSE 'pending' END,
           attempts
    FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_record ON outbox (record_id);
CREATE INDEX outbox_failed ON outbox (record_id) WHERE state IN ('error', 'conflict', 'blocked');
