//! What a person can do with a change the server refused: forget it, or send what it meant again
//! as a new edit.
//!
//! A refused change is never resent as it was: the server would refuse the same bytes again, and
//! the record on the phone has been rolled back to what the server holds ([`Record::without`]).
//! Re-submitting reads which fields the refused changes changed and to what (the record as
//! their writer saw it, against that plus them) and writes those values as one fresh edit on top
//! of the record as it is now, so what others changed since is kept; it is checked locally like
//! any edit and by the server like any change. (The fresh change may reuse the Automerge
//! sequence numbers of the refused ones: that is safe because the server never stored those.) Review actions and deletions are not carried
//! over: they are decisions to take again on the record as it is now. A refused creation (the
//! record exists nowhere else) is re-submitted as a new record in the device's current village.

use super::{Device, DeviceError, DeviceResult, DeviceStore, RejectedChange, StoreBatch, StoredRecord};
use crate::field::{Edit, Field, MergeKind};
use crate::ids::RecordId;
use crate::record::{Record, RecordError, RecordView};
use crate::schema::{Coded, Lang};
use std::collections::BTreeSet;

impl<S: DeviceStore> Device<S> {
    /// Forgets a refused change (by its sequence number, [`crate::device::OutboxEntry::seq`]) once
    /// a person has seen it. Returns whether there was one.
    pub fn discard_rejected(&mut self, seq: u64) -> DeviceResult<bool, S> {
        let known = self.rejected()?.iter().any(|r| r.entry.seq == seq);
        if known {
            let batch = StoreBatch { rejected_remove: vec![seq], ..StoreBatch::default() };
            self.store.commit(batch).map_err(DeviceError::Store)?;
        }
        Ok(known)
    }

    /// Sends what a refused change meant again, as a new edit (see the module docs), and forgets
    /// it together with the earlier refused changes of the same record it was built on, in the
    /// same commit. Returns the record edited: the same one, or a new one when the refused change
    /// belonged to a record that was never stored on the server. `now_ms` is the device clock.
    pub fn resubmit(&mut self, seq: u64, now_ms: i64) -> DeviceResult<RecordId, S> {
        let all = self.rejected()?;
        let target = all.iter().find(|r| r.entry.seq == seq).ok_or(DeviceError::NoSuchRefusal(seq))?;
        let record_id = target.entry.record;
        // The refused change and the refused changes of its record before it (it may depend on them).
        let lineage: Vec<&RejectedChange> =
            all.iter().filter(|r| r.entry.record == record_id && r.entry.seq <= seq).collect();
        let changes: Vec<Vec<u8>> = lineage.iter().map(|r| r.entry.change.clone()).collect();
        let rejected_remove: Vec<u64> = lineage.iter().map(|r| r.entry.seq).collect();
        let not_resubmittable = || DeviceError::NotResubmittable(record_id);

        let (mut record, append) = match self.store.load_record(record_id).map_err(DeviceError::Store)? {
            Some(bytes) => {
                let mut record = Record::load(&bytes, Some(self.identity.editor()))?;
                // What the refused changes changed: the record as their writer saw it (their
                // dependencies outside the lineage), against that plus them. Only those fields
                // are written again, so what others changed since is kept.
                let mut hashes = Vec::with_capacity(changes.len());
                let mut deps = BTreeSet::new();
                for c in &changes {
                    let parsed = crate::inspect::parse_change(c).map_err(RecordError::Corrupt)?;
                    hashes.push(parsed.hash());
                    deps.extend(parsed.deps().iter().copied());
                }
                deps.retain(|d| !hashes.contains(d));
                let deps: Vec<_> = deps.into_iter().collect();
                if !deps.iter().all(|d| record.has_change(&d.0)) {
                    // Built on something this phone no longer holds (it was reset since).
                    return Err(not_resubmittable());
                }
                let mut before = record.at(&deps)?;
                let mut wanted = Record::load(&before.save(), None)?;
                wanted.apply_changes(&changes)?;
                if !wanted.missing_deps().is_empty() {
                    return Err(not_resubmittable());
                }
                let edits = edits_towards(Some(&before.view()), &wanted.view());
                let change = record.edit(&edits, now_ms)?;
                (record, change)
            }
            None => {
                // Only a refused creation can be rebuilt from the refused changes alone.
                let mut wanted = Record::from_changes(&changes, None).map_err(|_| not_resubmittable())?;
                if !wanted.missing_deps().is_empty() {
                    return Err(not_resubmittable());
                }
                let intended = wanted.view();
                let (mut record, change) = self.new_record(intended.kind, &edits_towards(None, &intended), now_ms)?;
                let id = record.id();
                let batch = StoreBatch {
                    records: vec![StoredRecord { id, doc: record.save(), view: record.view() }],
                    outbox_append: vec![(id, change)],
                    rejected_remove,
                    ..StoreBatch::default()
                };
                self.store.commit(batch).map_err(DeviceError::Store)?;
                return Ok(id);
            }
        };
        let batch = StoreBatch {
            records: match append {
                Some(_) => vec![StoredRecord { id: record_id, doc: record.save(), view: record.view() }],
                None => Vec::new(),
            },
            outbox_append: append.into_iter().map(|c| (record_id, c)).collect(),
            rejected_remove,
            ..StoreBatch::default()
        };
        self.store.commit(batch).map_err(DeviceError::Store)?;
        Ok(record_id)
    }
}

/// The edits that take a record's fields from `now` (`None`: a new record) to `wanted` (review state and deletion
/// left out). Sets get the members added and removed; optional fields are cleared; a required
/// text field is never set to nothing.
pub(crate) fn edits_towards(now: Option<&RecordView>, wanted: &RecordView) -> Vec<Edit> {
    let mut edits = Vec::new();
    for &field in Field::of_kind(wanted.kind) {
        let text = |v: Option<&RecordView>| v.and_then(|v| v.field_text(field, Lang::Vi)).map(|t| t.value);
        let (have, want) = (text(now).unwrap_or_default(), text(Some(wanted)).unwrap_or_default());
        if have == want {
            continue;
        }
        if field.merge_kind() == MergeKind::Set {
            let members = |s: &str| s.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect::<BTreeSet<_>>();
            let (have, want) = (members(&have), members(&want));
            let added = want.difference(&have).map(|m| format!("+{m}"));
            let removed = have.difference(&want).map(|m| format!("-{m}"));
            edits.extend(added.chain(removed).filter_map(|op| Edit::parse(field.code(), &op).ok()));
        } else if !(want.is_empty() && matches!(field, Field::Unit | Field::Location | Field::CaseCode)) {
            edits.extend(Edit::parse(field.code(), &want).ok());
        }
    }
    edits
}
