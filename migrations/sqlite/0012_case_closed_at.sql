-- When a GBV case was closed, in the report projection (server time, ms): the retention period of
-- its history counts from here (server/src/store/purge.rs). Written with the record; kept while
-- the case stays closed, cleared when it is reopened. Cases closed before this migration count
-- from their last change, the best the log can say.
ALTER TABLE record_facts ADD COLUMN closed_at INTEGER;
UPDATE record_facts SET closed_at = (
    SELECT MAX(c.received_at) FROM changes c
    WHERE c.commune_id = record_facts.commune_id AND c.record_id = record_facts.record_id)
WHERE case_status = 'closed';
