-- The retention job (server/src/store/purge.rs) looks for GBV cases closed before a date, across
-- every commune, at start and once a day. Without an index that was a scan of every record: in a
-- province of 10 M records, 1.3 s of reading at each start, which slowed every sync running
-- beside it. Only closed cases have `closed_at`, so the index holds only them.
CREATE INDEX record_facts_closed ON record_facts (closed_at) WHERE closed_at IS NOT NULL;
