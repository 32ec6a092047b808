-- The scope (role, commune, village) each device was last provisioned for. When an admin moves a
-- user to another village or role, the device's next sync tells it to reset and provision again.
-- NULL: enrolled before this column existed; it is filled on the device's next sync.
ALTER TABLE devices ADD COLUMN scope TEXT;
