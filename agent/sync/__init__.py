"""Sync: outbox drain, change feed, connectivity, the "Work online" toggle."""
