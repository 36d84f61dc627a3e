-- Records as the node holds them, with their sync status; the outbox of ops to push; metadata.
CREATE TABLE records (
    id           TEXT PRIMARY KEY,
    collection   TEXT NOT NULL,
    key          TEXT NOT NULL,
    data         TEXT NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    version      INTEGER,
    local_rev    INTEGER NOT NULL,
    sync_state   TEXT NOT NULL,
    sync_code    TEXT,
    sync_params  TEXT,
    blocked_by   TEXT,
    date         TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX records_key ON records (collection, key);
CREATE INDEX records_date ON records (collection, date);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
    record_id    TEXT NOT NULL,
    collection   TEXT NOT NULL,
    action       TEXT NOT NULL,
    base_version INTEGER,
    data         TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX outbox_record ON outbox (record_id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
