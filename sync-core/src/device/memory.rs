//! [`MemoryStore`], the reference [`DeviceStore`]: every rule of a [`StoreBatch`] in its plainest
//! form, which the conformance suite holds every other store to.

use super::{DeviceStore, OutboxEntry, RejectedChange, StoreBatch, SyncState};
use crate::ids::RecordId;
use crate::record::RecordView;
use crate::schema::RecordKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A device store in memory: the reference for the conformance suite, and the store of the
/// server's demo phones, the tests, the simulation, the fuzzers and the benchmark's phones.
/// Serialisable, so a test can keep one in a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryStore {
    records: BTreeMap<RecordId, MemoryRecord>,
    outbox: Vec<OutboxEntry>,
    #[serde(default)]
    rejected: Vec<RejectedChange>,
    next_seq: u64,
    state: SyncState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MemoryRecord {
    #[serde(with = "serde_bytes")]
    doc: Vec<u8>,
    view: RecordView,
}

/// The memory store cannot fail.
#[derive(Debug, thiserror::Error)]
#[error("infallible")]
pub enum Never {}

impl DeviceStore for MemoryStore {
    type Error = Never;

    fn load_record(&self, id: RecordId) -> Result<Option<Vec<u8>>, Never> {
        Ok(self.records.get(&id).map(|r| r.doc.clone()))
    }

    fn list_records(&self) -> Result<Vec<RecordView>, Never> {
        Ok(self.records.values().map(|r| r.view.clone()).collect())
    }

    fn outbox(&self, max_bytes: usize) -> Result<Vec<OutboxEntry>, Never> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in &self.outbox {
            if !out.is_empty() && bytes + e.change.len() > max_bytes {
                break;
            }
            bytes += e.change.len();
            out.push(e.clone());
        }
        Ok(out)
    }

    fn outbox_len(&self) -> Result<usize, Never> {
        Ok(self.outbox.len())
    }

    fn rejected(&self) -> Result<Vec<RejectedChange>, Never> {
        Ok(self.rejected.clone())
    }

    fn sync_state(&self) -> Result<SyncState, Never> {
        Ok(self.state.clone())
    }

    fn commit(&mut self, batch: StoreBatch) -> Result<(), Never> {
        for r in batch.records {
            self.records.insert(r.id, MemoryRecord { doc: r.doc, view: r.view });
        }
        for id in &batch.records_remove {
            self.records.remove(id);
        }
        self.rejected.retain(|r| !batch.rejected_remove.contains(&r.entry.seq));
        for (record, change) in batch.outbox_append {
            self.next_seq += 1;
            self.outbox.push(OutboxEntry { seq: self.next_seq, record, change });
        }
        if let Some(through) = batch.outbox_ack_through {
            for (record, code, message) in batch.outbox_reject {
                let (refused, kept): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut self.outbox).into_iter().partition(|e| e.record == record);
                self.outbox = kept;
                self.rejected.extend(refused.into_iter().map(|entry| RejectedChange {
                    entry,
                    code: code.clone(),
                    message: message.clone(),
                }));
            }
            self.outbox.retain(|e| e.seq > through);
        }
        if batch.reset {
            self.records.clear();
            let unsent = std::mem::take(&mut self.outbox);
            self.rejected.extend(unsent.into_iter().map(|entry| RejectedChange {
                entry,
                code: "scope_changed".into(),
                message: "this phone's village or role changed before the change was sent".into(),
            }));
        }
        if let Some(state) = batch.sync_state {
            self.state = state;
        }
        Ok(())
    }

    fn wipe_sensitive(&mut self) -> Result<(), Never> {
        let gbv: Vec<RecordId> =
            self.records.iter().filter(|(_, r)| r.view.kind == RecordKind::GbvReferral).map(|(id, _)| *id).collect();
        for id in &gbv {
            self.records.remove(id);
        }
        self.outbox.retain(|e| !gbv.contains(&e.record));
        self.rejected.retain(|r| !gbv.contains(&r.entry.record));
        Ok(())
    }
}
