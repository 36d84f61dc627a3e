-- outbox.attempts (added by 0002) was never read nor written past its default 0: the retry
-- schedule lives in memory (protocol/backoff.py), so the column goes. SQLite 3.35+ drops a
-- column in place; no index or constraint names it.
ALTER TABLE outbox DROP COLUMN attempts;
