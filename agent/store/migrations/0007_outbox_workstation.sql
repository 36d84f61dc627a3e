-- outbox.workstation: the name of the paired workstation whose request queued the op (NULL
-- for the node's own ops: repairs, resolutions asked without a workstation). The push sends
-- it on the op and the hub keeps it in its feed: a record's history says who made each version.
ALTER TABLE outbox ADD COLUMN workstation TEXT;
