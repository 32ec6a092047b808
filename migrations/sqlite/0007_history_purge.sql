-- Purging the history of GBV referrals (server/src/store/purge.rs). A purge replaces a record's
-- document with one change holding its current values, empties the bytes of its earlier log
-- rows (the rows stay, so sequence numbers stay dense; the pull skips empty rows), and appends one
-- log row marked `replaces`: a device receiving it replaces its copy instead of merging.
ALTER TABLE changes ADD COLUMN replaces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN history_purged_at INTEGER;
