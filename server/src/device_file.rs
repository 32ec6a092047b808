//! The `sotay` command line's device storage: a directory holding the device's credential
//! (`device.json`, mode 0600) and its store (`store.cbor`). Every commit writes the whole store to
//! a temporary file, syncs it and renames it over the old one, so a crash leaves either the old
//! or the new state, never a mix. Fine for a command line; phones use SQLite (mobile bindings).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sotay_sync_core::device::{
    DeviceIdentity, DeviceStore, MemoryStore, OutboxEntry, RejectedChange, StoreBatch, SyncState,
};
use sotay_sync_core::{DeviceId, RecordId, RecordView};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What enrolment gave this device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    /// The server's base URL.
    pub server: String,
    /// Identity and scope.
    pub identity: DeviceIdentity,
    /// The role, as the server reported it at enrolment.
    pub role: crate::auth::Role,
    /// The device secret.
    pub secret: String,
}

impl Credential {
    /// The device id.
    pub fn device(&self) -> DeviceId {
        self.identity.device
    }
}

/// A device store kept in a directory.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    mem: MemoryStore,
}

/// A storage failure (disk full, permissions…). The store is unchanged when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FileStoreError(String);

impl FileStore {
    /// Opens the store in `dir` (empty if there is none yet).
    pub fn open(dir: &Path) -> anyhow::Result<FileStore> {
        let path = dir.join("store.cbor");
        let mem = match std::fs::read(&path) {
            Ok(bytes) => ciborium::from_reader(bytes.as_slice()).context("the device store is corrupt")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MemoryStore::default(),
            Err(e) => return Err(e).context("reading the device store"),
        };
        Ok(FileStore { path, mem })
    }

    fn persist(&self, mem: &MemoryStore) -> Result<(), FileStoreError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(mem, &mut bytes).map_err(|e| FileStoreError(e.to_string()))?;
        write_atomically(&self.path, &bytes)
            .map_err(|e| FileStoreError(format!("writing {}: {e}", self.path.display())))
    }
}

/// Writes a file so that it is either entirely old or entirely new after a crash.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl DeviceStore for FileStore {
    type Error = FileStoreError;

    fn load_record(&self, id: RecordId) -> Result<Option<Vec<u8>>, FileStoreError> {
        Ok(self.mem.load_record(id).unwrap_or_else(|e| match e {}))
    }
    fn list_records(&self) -> Result<Vec<RecordView>, FileStoreError> {
        Ok(self.mem.list_records().unwrap_or_else(|e| match e {}))
    }
    fn outbox(&self, max_bytes: usize) -> Result<Vec<OutboxEntry>, FileStoreError> {
        Ok(self.mem.outbox(max_bytes).unwrap_or_else(|e| match e {}))
    }
    fn outbox_len(&self) -> Result<usize, FileStoreError> {
        Ok(self.mem.outbox_len().unwrap_or_else(|e| match e {}))
    }
    fn rejected(&self) -> Result<Vec<RejectedChange>, FileStoreError> {
        Ok(self.mem.rejected().unwrap_or_else(|e| match e {}))
    }
    fn sync_state(&self) -> Result<SyncState, FileStoreError> {
        Ok(self.mem.sync_state().unwrap_or_else(|e| match e {}))
    }
    fn commit(&mut self, batch: StoreBatch) -> Result<(), FileStoreError> {
        let mut next = self.mem.clone();
        next.commit(batch).unwrap_or_else(|e| match e {});
        self.persist(&next)?;
        self.mem = next;
        Ok(())
    }
    fn wipe_sensitive(&mut self) -> Result<(), FileStoreError> {
        let mut next = self.mem.clone();
        next.wipe_sensitive().unwrap_or_else(|e| match e {});
        self.persist(&next)?;
        self.mem = next;
        Ok(())
    }
}

/// Reads a device directory's credential.
pub fn load_credential(dir: &Path) -> anyhow::Result<Credential> {
    let bytes = std::fs::read(dir.join("device.json"))
        .with_context(|| format!("no enrolled device in {} (run `sotay enrol` first)", dir.display()))?;
    serde_json::from_slice(&bytes).context("device.json is corrupt")
}

/// Saves a device directory's credential, readable by its owner only.
pub fn save_credential(dir: &Path, cred: &Credential) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("device.json");
    write_atomically(&path, &serde_json::to_vec_pretty(cred)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotay_sync_core::device::Device;
    use sotay_sync_core::schema::RecordKind;
    use sotay_sync_core::{CommuneId, UserId, VillageId};

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            device: DeviceId(uuid::Uuid::from_u128(1)),
            user: UserId(uuid::Uuid::from_u128(2)),
            commune: CommuneId(uuid::Uuid::from_u128(3)),
            village: VillageId(uuid::Uuid::from_u128(4)),
        }
    }

    #[test]
    fn a_failed_write_reports_a_clear_error_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut device = Device::new(identity(), FileStore::open(dir.path()).unwrap());
        let kept = device.create(RecordKind::Activity, &sotay_sync_core::sample::activity(1, 2026), 0).unwrap();
        // The disk "fills up": the store's file cannot be replaced any more.
        std::fs::remove_file(dir.path().join("store.cbor")).unwrap();
        std::fs::create_dir(dir.path().join("store.cbor")).unwrap();
        let err = device.create(RecordKind::Activity, &sotay_sync_core::sample::activity(2, 2026), 0).unwrap_err();
        assert!(err.to_string().contains("local storage failed"), "{err}");
        // Nothing half-done in memory either: the first record and its one pending change only.
        assert_eq!(device.list().unwrap().iter().map(|v| v.id).collect::<Vec<_>>(), vec![kept]);
        assert_eq!(device.pending().unwrap(), 1);
    }

    #[test]
    fn the_store_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut device = Device::new(identity(), FileStore::open(dir.path()).unwrap());
        let id = device.create(RecordKind::Activity, &sotay_sync_core::sample::activity(1, 2026), 0).unwrap();
        let reopened = Device::new(identity(), FileStore::open(dir.path()).unwrap());
        assert_eq!(reopened.view(id).unwrap(), device.view(id).unwrap());
        assert_eq!(reopened.pending().unwrap(), 1);
        std::fs::write(dir.path().join("store.cbor"), b"not a store").unwrap();
        assert!(FileStore::open(dir.path()).unwrap_err().to_string().contains("corrupt"));
    }
}
