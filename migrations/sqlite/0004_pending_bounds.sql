-- Changes waiting for their dependencies are bounded per device and expire by age
-- (server/src/sync/ingest.rs): both questions need an index.
CREATE INDEX pending_changes_device ON pending_changes (device_id);
CREATE INDEX pending_changes_received ON pending_changes (received_at);
