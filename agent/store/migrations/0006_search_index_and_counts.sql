-- Queries that do not scan (a company's whole books on one node: a million records).
--
-- records_fts, records_key_fts: full-text indexes of each record's data and of its key (the
-- same text the search `?q=` used to scan with LIKE), with SQLite's trigram tokenizer, which
-- finds any substring of three characters or more (codes such as `000123`, Vietnamese names
-- with their diacritics). They are external-content tables: they store only the index, read
-- through records' rowid, and without positions (detail=none: a third of the size, built
-- three times faster); a search is a LIKE on them, which takes the candidates from the index
-- and checks each one's text. Two tables, not two columns of one: without positions an index
-- does not know a trigram's column either, so a search of the short keys would check every
-- record whose data has the text. The triggers keep both in step inside the writing
-- transaction, whichever path writes (workstation writes, pulled changes, resolutions,
-- repairs); a state-only update (sync_state, version) does not touch them. A future migration
-- that rebuilds the records table (new rowids) must rebuild them:
-- `INSERT INTO records_fts(records_fts) VALUES ('rebuild')`, the same for records_key_fts.
CREATE VIRTUAL TABLE records_fts USING fts5(
    data, content='records', content_rowid='rowid', tokenize='trigram', detail='none'
);
CREATE VIRTUAL TABLE records_key_fts USING fts5(
    key, content='records', content_rowid='rowid', tokenize='trigram', detail='none'
);
CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
    INSERT INTO records_fts (rowid, data) VALUES (new.rowid, new.data);
    INSERT INTO records_key_fts (rowid, key) VALUES (new.rowid, new.key);
END;
CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
    INSERT INTO records_fts (records_fts, rowid, data) VALUES ('delete', old.rowid, old.data);
    INSERT INTO records_key_fts (records_key_fts, rowid, key)
    VALUES ('delete', old.rowid, old.key);
END;
CREATE TRIGGER records_fts_update_data AFTER UPDATE OF data ON records
WHEN old.data IS NOT new.data BEGIN
    INSERT INTO records_fts (records_fts, rowid, data) VALUES ('delete', old.rowid, old.data);
    INSERT INTO records_fts (rowid, data) VALUES (new.rowid, new.data);
END;
CREATE TRIGGER records_fts_update_key AFTER UPDATE OF key ON records
WHEN old.key IS NOT new.key BEGIN
    INSERT INTO records_key_fts (records_key_fts, rowid, key)
    VALUES ('delete', old.rowid, old.key);
    INSERT INTO records_key_fts (rowid, key) VALUES (new.rowid, new.key);
END;
INSERT INTO records_fts (records_fts) VALUES ('rebuild');
INSERT INTO records_key_fts (records_key_fts) VALUES ('rebuild');

-- sync_counts: how many records are in each sync state (the LAN `sync` summary, the tray's
-- figures), kept by triggers in the same transaction as every write, instead of counted over
-- the whole table at each request. Deleted records count, as they did.
CREATE TABLE sync_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sync_counts (state, n) SELECT sync_state, count(*) FROM records GROUP BY sync_state;
CREATE TRIGGER sync_counts_insert AFTER INSERT ON records BEGIN
    INSERT INTO sync_counts (state, n) VALUES (new.sync_state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER sync_counts_delete AFTER DELETE ON records BEGIN
    UPDATE sync_counts SET n = n - 1 WHERE state = old.sync_state;
END;
CREATE TRIGGER sync_counts_update AFTER UPDATE OF sync_state ON records
WHEN old.sync_state IS NOT new.sync_state BEGIN
    UPDATE sync_counts SET n = n - 1 WHERE state = old.sync_state;
    INSERT INTO sync_counts (state, n) VALUES (new.sync_state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
