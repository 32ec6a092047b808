//! The device side of sync: local editing with an outbox, what to send, and applying what
//! arrives, all behind the [`DeviceStore`] trait so the logic is the same on a phone (SQLite), in
//! the `sotay` command line (a file) and in tests (memory).
//!
//! The engine does no I/O of its own. A sync is: [`Device::prepare_sync`] builds the request,
//! the caller sends it however it likes, and [`Device::apply_sync`] applies the answer. Every
//! change to the store goes through one [`StoreBatch`], which the store commits atomically: a
//! local edit and its outbox entry land together; received changes, the new cursor and the
//! acknowledgement of the outbox land together. So a sync cut off at any byte either happened
//! entirely or not at all, and retrying it is always safe.

use crate::field::{Edit, Field};
use crate::ids::{CommuneId, Date, DeviceId, RecordId, UserId, VillageId};
use crate::record::{Editor, Record, RecordError, RecordView};
use crate::schema::RecordKind;
use crate::wire::{ChangeBytes, RecordChanges, SnapshotCursor, SyncRequest, SyncResponse, WireError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

mod memory;
mod refused;

pub use memory::{MemoryStore, Never};

/// Who this device is and what it may write, as told by the server at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// This device (its Automerge actor).
    pub device: DeviceId,
    /// The user it is enrolled for (the Automerge author).
    pub user: UserId,
    /// The user's commune.
    pub commune: CommuneId,
    /// The user's village (records are created there).
    pub village: VillageId,
}

impl DeviceIdentity {
    fn editor(&self) -> Editor {
        Editor { device: self.device, user: self.user }
    }
}

/// An unacknowledged local change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Local, increasing sequence number (assigned by the store).
    pub seq: u64,
    /// The record changed.
    pub record: RecordId,
    /// The Automerge change.
    #[serde(with = "serde_bytes")]
    pub change: Vec<u8>,
}

/// A local change the server refused. Kept, never resent: a person decides what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedChange {
    /// The outbox entry as it was.
    pub entry: OutboxEntry,
    /// The server's code (`forbidden`, `unprocessable`).
    pub code: String,
    /// The server's reason.
    pub message: String,
}

/// Where this device stands in the server's change log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Everything up to this log position has been applied.
    pub cursor: u64,
    /// Provisioning from snapshots under way.
    pub snapshot: Option<SnapshotCursor>,
    /// Provisioning has finished at least once.
    #[serde(default)]
    pub provisioned: bool,
    /// The server's log epoch this position belongs to (`SyncResponse::epoch`).
    #[serde(default)]
    pub epoch: Option<Vec<u8>>,
}

/// A record to write: its saved document and its projection.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The record id.
    pub id: RecordId,
    /// The saved Automerge document.
    pub doc: Vec<u8>,
    /// Its projection, for listing and querying without loading documents.
    pub view: RecordView,
}

/// Everything one operation writes, committed atomically by the store.
#[derive(Debug, Default)]
pub struct StoreBatch {
    /// Records to insert or replace.
    pub records: Vec<StoredRecord>,
    /// New outbox entries (the store assigns increasing sequence numbers).
    pub outbox_append: Vec<(RecordId, Vec<u8>)>,
    /// Records to remove (a record whose creation the server refused exists nowhere else).
    /// Applied after `records`.
    pub records_remove: Vec<RecordId>,
    /// Move every outbox entry of these records aside as refused (record, code, message): those
    /// up to `outbox_ack_through` were refused, and later ones were made on top of them, so the
    /// server would never accept them either. Applied before the acknowledgement, and only with one.
    pub outbox_reject: Vec<(RecordId, String, String)>,
    /// Forget these refused changes (by their outbox sequence number): a person discarded them,
    /// or re-submitted them as a new edit in the same batch.
    pub rejected_remove: Vec<u64>,
    /// Remove outbox entries with a sequence number up to and including this one.
    pub outbox_ack_through: Option<u64>,
    /// The device's scope changed: after the acknowledgement, drop every record, set the remaining
    /// outbox entries aside as refused (`scope_changed`) and start from an empty sync position.
    pub reset: bool,
    /// The new sync position.
    pub sync_state: Option<SyncState>,
}

/// Local storage of a device. Implementations must make [`DeviceStore::commit`] atomic and
/// durable: after it returns `Ok`, the whole batch survives a crash; after `Err`, none of it is there.
pub trait DeviceStore {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The saved document of a record.
    fn load_record(&self, id: RecordId) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The projections of every local record.
    fn list_records(&self) -> Result<Vec<RecordView>, Self::Error>;
    /// Unacknowledged changes in sequence order, up to about `max_bytes` (always at least one if any).
    fn outbox(&self, max_bytes: usize) -> Result<Vec<OutboxEntry>, Self::Error>;
    /// Number of unacknowledged changes.
    fn outbox_len(&self) -> Result<usize, Self::Error>;
    /// Changes the server refused, oldest first.
    fn rejected(&self) -> Result<Vec<RejectedChange>, Self::Error>;
    /// The sync position.
    fn sync_state(&self) -> Result<SyncState, Self::Error>;
    /// Writes a batch atomically.
    fn commit(&mut self, batch: StoreBatch) -> Result<(), Self::Error>;
    /// Removes every GBV referral and every outbox entry of one (on revocation).
    fn wipe_sensitive(&mut self) -> Result<(), Self::Error>;
}

/// Errors of device operations.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError<E: std::error::Error + 'static> {
    /// The local store failed; nothing was changed.
    #[error("local storage failed: {0}")]
    Store(#[source] E),
    /// The record operation was refused.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// No such record on this device.
    #[error("no record {0} on this device")]
    NotFound(RecordId),
    /// Records are created in the user's village; this account has none (reviewers, focal points).
    #[error("this account belongs to no village, so it cannot create records on a device")]
    NoVillage,
    /// No refused change with this sequence number on this device.
    #[error("no refused change {0} on this device")]
    NoSuchRefusal(u64),
    /// The refused change cannot be sent again: the record it was made to is no longer on this
    /// device as it was (the device was moved to another village since).
    #[error("the refused change to record {0} cannot be sent again from this device")]
    NotResubmittable(RecordId),
    /// The server's answer could not be used; nothing was changed.
    #[error("bad answer from the server: {0}")]
    Protocol(String),
}

impl<E: std::error::Error + 'static> From<WireError> for DeviceError<E> {
    fn from(e: WireError) -> Self {
        DeviceError::Protocol(e.to_string())
    }
}

/// What one applied sync answer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Local changes the server acknowledged.
    pub acked: usize,
    /// Records created or updated from the server.
    pub records_received: usize,
    /// Changes received.
    pub changes_received: usize,
    /// Local changes the server refused (kept aside, see [`Device::rejected`]).
    pub rejected: usize,
    /// Whether to sync again straight away (a page of a backlog, or provisioning).
    pub more: bool,
    /// The server said this device's scope changed: everything local was reset; refresh the
    /// identity (village) and sync again to be provisioned.
    pub reset: bool,
    /// The server's database was restored from a backup: this many of the device's own changes
    /// were queued to be sent again (at least 1 when it happened), and it provisions again.
    #[serde(default)]
    pub restored: usize,
}

/// A device: its identity and its store, with the operations a phone app needs.
#[derive(Debug)]
pub struct Device<S: DeviceStore> {
    identity: DeviceIdentity,
    store: S,
}

type DeviceResult<T, S> = Result<T, DeviceError<<S as DeviceStore>::Error>>;

impl<S: DeviceStore> Device<S> {
    /// A device over a store.
    pub fn new(identity: DeviceIdentity, store: S) -> Self {
        Device { identity, store }
    }

    /// Who this device is.
    pub fn identity(&self) -> DeviceIdentity {
        self.identity
    }

    /// Takes a new scope (after the server reset this device because its user was moved).
    pub fn set_identity(&mut self, identity: DeviceIdentity) {
        self.identity = identity;
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, given back (to wipe it, or to close it).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The store, mutably (for store-specific maintenance).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Creates a record in this device's village with its first values. `id_ms` seeds the UUIDv7.
    pub fn create(&mut self, kind: RecordKind, edits: &[Edit], now_ms: i64) -> DeviceResult<RecordId, S> {
        let (mut record, change) = self.new_record(kind, edits, now_ms)?;
        self.write_local(&mut record, Some(change))?;
        Ok(record.id())
    }

    /// A new record in this device's village and its creation change, not yet stored.
    fn new_record(&self, kind: RecordKind, edits: &[Edit], now_ms: i64) -> DeviceResult<(Record, Vec<u8>), S> {
        if self.identity.village.0.is_nil() {
            return Err(DeviceError::NoVillage);
        }
        let id = RecordId::new_v7(now_ms.max(0) as u64);
        let who = self.identity;
        Ok(Record::create(kind, id, who.commune, who.village, who.editor(), edits, now_ms)?)
    }

    /// Edits a record. Returns whether anything changed.
    pub fn edit(&mut self, id: RecordId, edits: &[Edit], now_ms: i64) -> DeviceResult<bool, S> {
        let mut record = self.load(id)?;
        let change = record.edit(edits, now_ms)?;
        let changed = change.is_some();
        self.write_local(&mut record, change)?;
        Ok(changed)
    }

    /// Submits a record for review (it must be valid).
    pub fn submit(&mut self, id: RecordId, today: Date, now_ms: i64) -> DeviceResult<(), S> {
        let mut record = self.load(id)?;
        let change = record.submit(today, now_ms)?;
        self.write_local(&mut record, Some(change))
    }

    /// Approves a submitted record (reviewers).
    pub fn approve(&mut self, id: RecordId, now_ms: i64) -> DeviceResult<(), S> {
        let mut record = self.load(id)?;
        let change = record.approve(now_ms)?;
        self.write_local(&mut record, Some(change))
    }

    /// Returns a submitted record to its author with a comment (reviewers).
    pub fn return_to_author(&mut self, id: RecordId, comment: &str, now_ms: i64) -> DeviceResult<(), S> {
        let mut record = self.load(id)?;
        let change = record.return_to_author(comment, now_ms)?;
        self.write_local(&mut record, Some(change))
    }

    /// Soft-deletes a record.
    pub fn delete(&mut self, id: RecordId, now_ms: i64) -> DeviceResult<(), S> {
        let mut record = self.load(id)?;
        let change = record.delete(now_ms)?;
        self.write_local(&mut record, Some(change))
    }

    /// Resolves a conflict on a field by choosing one of its values.
    pub fn resolve(&mut self, id: RecordId, field: Field, choice: usize, now_ms: i64) -> DeviceResult<(), S> {
        let mut record = self.load(id)?;
        let change = record.resolve(field, choice, now_ms)?;
        self.write_local(&mut record, Some(change))
    }

    /// The projection of one record.
    pub fn view(&self, id: RecordId) -> DeviceResult<RecordView, S> {
        Ok(self.load(id)?.view())
    }

    /// The projections of every local record.
    pub fn list(&self) -> DeviceResult<Vec<RecordView>, S> {
        self.store.list_records().map_err(DeviceError::Store)
    }

    /// A record loaded for reading or editing.
    pub fn load(&self, id: RecordId) -> DeviceResult<Record, S> {
        let bytes = self.store.load_record(id).map_err(DeviceError::Store)?.ok_or(DeviceError::NotFound(id))?;
        Ok(Record::load(&bytes, Some(self.identity.editor()))?)
    }

    /// Local changes the server refused, kept aside.
    pub fn rejected(&self) -> DeviceResult<Vec<RejectedChange>, S> {
        self.store.rejected().map_err(DeviceError::Store)
    }

    /// Whether the next sync starts provisioning from scratch (a new device, or one reset).
    pub fn needs_provisioning(&self) -> DeviceResult<bool, S> {
        let state = self.store.sync_state().map_err(DeviceError::Store)?;
        Ok(!state.provisioned && state.snapshot.is_none())
    }

    /// Number of local changes not yet acknowledged by the server.
    pub fn pending(&self) -> DeviceResult<usize, S> {
        self.store.outbox_len().map_err(DeviceError::Store)
    }

    fn write_local(&mut self, record: &mut Record, change: Option<Vec<u8>>) -> DeviceResult<(), S> {
        let Some(change) = change else { return Ok(()) };
        let batch = StoreBatch {
            records: vec![StoredRecord { id: record.id(), doc: record.save(), view: record.view() }],
            outbox_append: vec![(record.id(), change)],
            ..StoreBatch::default()
        };
        self.store.commit(batch).map_err(DeviceError::Store)
    }

    /// The next sync request: the cursor and up to about `max_push_bytes` of unacknowledged
    /// changes, grouped by record in outbox order.
    pub fn prepare_sync(&self, max_push_bytes: usize) -> DeviceResult<SyncRequest, S> {
        let state = self.store.sync_state().map_err(DeviceError::Store)?;
        let outbox = self.store.outbox(max_push_bytes).map_err(DeviceError::Store)?;
        let outbox_through = outbox.last().map_or(0, |e| e.seq);
        let mut push: Vec<RecordChanges> = Vec::new();
        let mut index: HashMap<RecordId, usize> = HashMap::new();
        for e in outbox {
            let i = *index.entry(e.record).or_insert_with(|| {
                push.push(RecordChanges { record: e.record.as_bytes().to_vec(), changes: Vec::new() });
                push.len() - 1
            });
            push[i].changes.push(ChangeBytes(e.change));
        }
        let fresh = !state.provisioned && state.snapshot.is_none();
        Ok(SyncRequest {
            epoch: state.epoch,
            cursor: state.cursor,
            snapshot: state.snapshot,
            fresh,
            outbox_through,
            push,
        })
    }

    /// Applies the server's answer to `request`, atomically: received records, the new cursor
    /// and the acknowledgement of the pushed changes are stored together or not at all.
    pub fn apply_sync(&mut self, request: &SyncRequest, response: SyncResponse) -> DeviceResult<SyncProgress, S> {
        if response.acked_through > request.outbox_through {
            return Err(DeviceError::Protocol("acknowledged changes that were not sent".into()));
        }
        let known_epoch = request.epoch.clone();
        if let (Some(known), Some(now)) = (&known_epoch, &response.epoch)
            && known != now
        {
            return self.start_over_after_restore(now.clone());
        }
        let epoch = response.epoch.clone().or(known_epoch);
        let mut touched: BTreeMap<RecordId, Record> = BTreeMap::new();
        let mut changes_received = 0;
        // A record whose history the server purged: its new document replaces the local copy
        // (the two share no history). Unsent local changes of it were made on the old history:
        // the server refuses them at the next push, and they are kept aside like any refusal.
        for snap in response.replaced {
            let id = snap.record_id()?;
            let incoming = Record::load(&snap.doc, Some(self.identity.editor()))?;
            self.check_scope(id, &incoming)?;
            touched.insert(id, incoming);
        }
        for snap in response.snapshots {
            let id = snap.record_id()?;
            let mut incoming = Record::load(&snap.doc, Some(self.identity.editor()))?;
            self.check_scope(id, &incoming)?;
            match self.take(&mut touched, id)? {
                Some(mut local) => {
                    local.merge(&mut incoming)?;
                    touched.insert(id, local);
                }
                None => {
                    touched.insert(id, incoming);
                }
            }
        }
        for rc in response.changes {
            let id = rc.record_id()?;
            let changes: Vec<Vec<u8>> = rc.changes.into_iter().map(|c| c.0).collect();
            changes_received += changes.len();
            let record = match self.take(&mut touched, id)? {
                Some(mut local) => {
                    local.apply_changes(&changes)?;
                    local
                }
                None => Record::from_changes(&changes, Some(self.identity.editor()))?,
            };
            self.check_scope(id, &record)?;
            touched.insert(id, record);
        }
        let records_received = touched.len();
        let mut outbox_reject = Vec::with_capacity(response.rejected.len());
        for r in &response.rejected {
            outbox_reject.push((r.record_id()?, r.code.clone(), r.message.clone()));
        }
        // What moves to the refused list: every entry of a refused record (those pushed, and
        // later ones made on top of them), and on a reset everything not acknowledged.
        let mut records_remove = Vec::new();
        let mut rejected = 0;
        if !outbox_reject.is_empty() || response.reset {
            let refused: HashSet<RecordId> = outbox_reject.iter().map(|(id, _, _)| *id).collect();
            let outbox = self.store.outbox(usize::MAX).map_err(DeviceError::Store)?;
            let mut refused_changes: BTreeMap<RecordId, Vec<[u8; 32]>> = BTreeMap::new();
            for e in &outbox {
                if refused.contains(&e.record) {
                    rejected += 1;
                    let hash = crate::inspect::parse_change(&e.change).map_err(RecordError::Corrupt)?.hash().0;
                    refused_changes.entry(e.record).or_default().push(hash);
                } else if response.reset && e.seq > response.acked_through {
                    rejected += 1;
                }
            }
            // Roll each refused record back to what the server holds, so the phone shows what
            // everyone else sees and its next edits do not build on changes that never arrive.
            for (id, hashes) in refused_changes {
                let Some(mut record) = self.take(&mut touched, id)? else { continue };
                match record.without(&hashes, Some(self.identity.editor()))? {
                    Some(rolled_back) => {
                        touched.insert(id, rolled_back);
                    }
                    None => records_remove.push(id),
                }
            }
        }
        if response.reset {
            touched.clear();
        }
        let batch = StoreBatch {
            reset: response.reset,
            records: touched
                .into_iter()
                .map(|(id, mut r)| StoredRecord { id, doc: r.save(), view: r.view() })
                .collect(),
            records_remove,
            outbox_append: Vec::new(),
            outbox_reject,
            rejected_remove: Vec::new(),
            outbox_ack_through: (response.acked_through > 0).then_some(response.acked_through),
            sync_state: Some(if response.reset {
                SyncState { epoch, ..SyncState::default() }
            } else {
                SyncState {
                    cursor: response.cursor,
                    provisioned: response.snapshot.is_none(),
                    snapshot: response.snapshot,
                    epoch,
                }
            }),
        };
        self.store.commit(batch).map_err(DeviceError::Store)?;
        // The server acknowledges a push whole or not at all.
        let pushed: usize = request.push.iter().map(|p| p.changes.len()).sum();
        let acked =
            if response.acked_through > 0 && response.acked_through == request.outbox_through { pushed } else { 0 };
        Ok(SyncProgress {
            acked,
            records_received,
            changes_received,
            rejected,
            more: response.more || response.reset,
            reset: response.reset,
            restored: 0,
        })
    }

    /// The server's database was restored from a backup (its log epoch changed): what this device
    /// sent after the backup may be gone, and its cursor means nothing in the restored log. It
    /// keeps every record, queues all its own changes again (the server ignores those it has), and
    /// starts from an empty sync position, so the next sync provisions it again, merging the
    /// restored records into its own. Nothing of the answer is applied: it was computed for a
    /// cursor of another log, and the push it acknowledges is in the outbox still, sent again.
    fn start_over_after_restore(&mut self, epoch: Vec<u8>) -> DeviceResult<SyncProgress, S> {
        let me = self.identity.device;
        let mut outbox_append = Vec::new();
        for view in self.store.list_records().map_err(DeviceError::Store)? {
            let Some(bytes) = self.store.load_record(view.id).map_err(DeviceError::Store)? else { continue };
            let mut record = Record::load(&bytes, None)?;
            for (_, device, change) in record.changes_since(&[]) {
                if device == Some(me) {
                    outbox_append.push((view.id, change));
                }
            }
        }
        let resent = outbox_append.len();
        let batch = StoreBatch {
            outbox_append,
            sync_state: Some(SyncState { epoch: Some(epoch), ..SyncState::default() }),
            ..StoreBatch::default()
        };
        self.store.commit(batch).map_err(DeviceError::Store)?;
        Ok(SyncProgress { more: true, restored: resent.max(1), ..SyncProgress::default() })
    }

    fn take(&self, touched: &mut BTreeMap<RecordId, Record>, id: RecordId) -> DeviceResult<Option<Record>, S> {
        if let Some(r) = touched.remove(&id) {
            return Ok(Some(r));
        }
        match self.store.load_record(id).map_err(DeviceError::Store)? {
            Some(bytes) => Ok(Some(Record::load(&bytes, Some(self.identity.editor()))?)),
            None => Ok(None),
        }
    }

    fn check_scope(&self, id: RecordId, record: &Record) -> DeviceResult<(), S> {
        if record.id() != id {
            return Err(DeviceError::Protocol(format!("record {id} carries the id {}", record.id())));
        }
        if record.commune() != self.identity.commune {
            return Err(DeviceError::Protocol(format!("record {id} belongs to another commune")));
        }
        Ok(())
    }

    /// Removes every GBV referral from this device (the server said it was revoked).
    pub fn wipe_sensitive(&mut self) -> DeviceResult<(), S> {
        self.store.wipe_sensitive().map_err(DeviceError::Store)
    }
}
