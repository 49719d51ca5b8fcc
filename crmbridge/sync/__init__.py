"""The sync engine: matching, merging, conflict policies, the runner and the outbox."""
