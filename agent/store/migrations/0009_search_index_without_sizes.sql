-- The search indexes of 0006 without their table of document sizes (columnsize=0).
--
-- FTS5 keeps, beside the index, one row per record with the size of each column in tokens,
-- for ranking (bm25). The search never ranks: it takes the candidates of a LIKE and orders by
-- key. Without that row, indexing a million records (a first download's rebuild) took
-- 19.2 s for the data and 12.1 s for the keys against 28.7 s and 15.2 s, and every write adds
-- one row fewer to each index. Same names, same content: the triggers of 0008 keep them in
-- step as before; both are filled again from the records here.
DROP TABLE records_fts;
DROP TABLE records_key_fts;
CREATE VIRTUAL TABLE records_fts USING fts5(
    data, content='records', content_rowid='rowid', tokenize='trigram', detail='none',
    columnsize=0
);
CREATE VIRTUAL TABLE records_key_fts USING fts5(
    key, content='records', content_rowid='rowid', tokenize='trigram', detail='none',
    columnsize=0
);
-- A row still waiting in search_pending (0008) is indexed by the writer's next commit: the
-- rebuild leaves it out, or the commit would index it twice.
INSERT INTO records_fts (rowid, data)
SELECT rowid, data FROM records WHERE rowid NOT IN (SELECT record_rowid FROM search_pending);
INSERT INTO records_key_fts (rowid, key)
SELECT rowid, key FROM records WHERE rowid NOT IN (SELECT record_rowid FROM search_pending);
