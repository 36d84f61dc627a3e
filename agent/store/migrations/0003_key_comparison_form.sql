-- Keys in their comparison form (docs/protocol.md, "Keys"): codes NFKC, trimmed, upper-cased,
-- invisible characters dropped, so `kh001`, `ＫＨ００１` and `KH001` are one key. The data
-- keeps what was typed before this version; new writes store the normalised code itself.
-- officesync_key(collection, key) is registered by agent/store/migrate.py.
UPDATE records SET key = officesync_key(collection, key)
WHERE key <> officesync_key(collection, key);
