-- A new record enters the search indexes (0006) at its transaction's commit, not inside its
-- write.
--
-- Tokenizing a record's data into trigrams was the largest part of a workstation's create:
-- ~0.25 ms of the ~0.8 ms of the node's CPU a voucher cost at 50 workstations, spent on the
-- event loop's thread, with FTS5 writing one segment per write (each write runs in its own
-- SAVEPOINT, and FTS5 flushes its pending terms at every savepoint). Now an insert only queues
-- the record's rowid in search_pending. The writer (agent/store/writer.py) empties the queue
-- with one statement, DELETE FROM search_pending, on its commit thread just before COMMIT and
-- in the same transaction; the trigger below indexes each row as it leaves the queue. So a
-- committed transaction of the writer never leaves a record out of the indexes, a group of
-- writes adds one segment per index, and the tokenizing runs while the loop serves the next
-- requests (the sqlite3 module releases the GIL for the statement).
--
-- A row still queued is not in the indexes: its update needs no 'delete' of old tokens (the
-- flush reads its current key and data), and its deletion takes it out of the queue (the
-- trigger then finds no record to index). A database written by other means (a raw sqlite3
-- connection) may hold queued rows after its commit: the search takes them as candidates
-- (agent/store/dataset.py) and the writer's next commit indexes them.
CREATE TABLE search_pending (
    record_rowid INTEGER PRIMARY KEY
);
CREATE TRIGGER search_pending_index AFTER DELETE ON search_pending BEGIN
    INSERT INTO records_fts (rowid, data)
    SELECT rowid, data FROM records WHERE rowid = old.record_rowid;
    INSERT INTO records_key_fts (rowid, key)
    SELECT rowid, key FROM records WHERE rowid = old.record_rowid;
END;

-- The four triggers of 0006, same names (a first download drops and makes them again:
-- agent/store/dataset.py, _BULK_DROPPED).
DROP TRIGGER IF EXISTS records_fts_insert;
DROP TRIGGER IF EXISTS records_fts_delete;
DROP TRIGGER IF EXISTS records_fts_update_data;
DROP TRIGGER IF EXISTS records_fts_update_key;
CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
    INSERT OR IGNORE INTO search_pending (record_rowid) VALUES (new.rowid);
END;
CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
    INSERT INTO records_fts (records_fts, rowid, data) SELECT 'delete', old.rowid, old.data
    WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE record_rowid = old.rowid);
    INSERT INTO records_key_fts (records_key_fts, rowid, key) SELECT 'delete', old.rowid, old.key
    WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE record_rowid = old.rowid);
    DELETE FROM search_pending WHERE record_rowid = old.rowid;
END;
CREATE TRIGGER records_fts_update_data AFTER UPDATE OF data ON records
WHEN old.data IS NOT new.data
     AND NOT EXISTS (SELECT 1 FROM search_pending WHERE record_rowid = old.rowid) BEGIN
    INSERT INTO records_fts (records_fts, rowid, data) VALUES ('delete', old.rowid, old.data);
    INSERT INTO records_fts (rowid, data) VALUES (new.rowid, new.data);
END;
CREATE TRIGGER records_fts_update_key AFTER UPDATE OF key ON records
WHEN old.key IS NOT new.key
     AND NOT EXISTS (SELECT 1 FROM search_pending WHERE record_rowid = old.rowid) BEGIN
    INSERT INTO records_key_fts (records_key_fts, rowid, key)
    VALUES ('delete', old.rowid, old.key);
    INSERT INTO records_key_fts (rowid, key) VALUES (new.rowid, new.key);
END;

-- A first download cut short before this upgrade had dropped the old four and kept their SQL
-- to make them again at its end: they exist again now (the download's end rebuilds both
-- indexes from the records all the same), so they leave that list.
UPDATE meta SET value = (
    SELECT json_group_array(json(saved.value)) FROM json_each(meta.value) AS saved
    WHERE json_extract(saved.value, '$[1]') NOT IN (
        'records_fts_insert', 'records_fts_delete', 'records_fts_update_data',
        'records_fts_update_key'))
WHERE key = 'bulk_load';
