//! Purging a record's history: [`Record::compacted`] writes the record's current values as one
//! change, under the identity of the change that created it, so nothing earlier (a corrected
//! note, an old value) survives in the document, while the projection and the creation's
//! attribution stay exactly as they were.
//!
//! The result shares no history with the old document, so replicas cannot merge the two: the
//! server replaces its copy and tells the creating device to replace its own
//! (`RecordChanges::replace` on the wire).

use super::{Editor, Record, RecordError};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

impl Record {
    /// The record with its history purged: one change holding the current value of every key
    /// (the value shown where there is a conflict), made by the creating device and user at the
    /// creation time. Returns the new record and that change.
    pub fn compacted(&mut self) -> Result<(Record, Vec<u8>), RecordError> {
        let created = self.creation();
        let (Some(device), Some(user)) = (created.device, created.user) else {
            return Err(RecordError::NotARecord("creation attribution"));
        };
        let mut doc = AutoCommit::new();
        super::set_editor(&mut doc, Some(Editor { device, user }));
        copy_map(&self.doc, &ROOT, &mut doc, &ROOT)?;
        let mut record = Record::from_doc(doc)?;
        let change = record.commit(created.at_ms).ok_or(RecordError::NotARecord("empty record"))?;
        Ok((record, change))
    }
}

/// Copies the current entries of map `from` in `src` into map `to` in `dst`.
fn copy_map(src: &AutoCommit, from: &ObjId, dst: &mut AutoCommit, to: &ObjId) -> Result<(), RecordError> {
    for key in src.keys(from) {
        match src.get(from, &key)? {
            Some((Value::Scalar(v), _)) => {
                let v = match v.as_ref() {
                    ScalarValue::Counter(_) => ScalarValue::counter(v.as_i64().unwrap_or(0)),
                    other => other.clone(),
                };
                dst.put(to, &key, v)?;
            }
            Some((Value::Object(ObjType::Map), obj)) => {
                let child = dst.put_object(to, &key, ObjType::Map)?;
                copy_map(src, &obj, dst, &child)?;
            }
            Some((Value::Object(ObjType::Text), obj)) => {
                let child = dst.put_object(to, &key, ObjType::Text)?;
                dst.splice_text(&child, 0, 0, &src.text(&obj)?)?;
            }
            Some((Value::Object(other), _)) => {
                return Err(RecordError::Corrupt(format!("a {other:?} under {key:?} is not part of a record")));
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::ids::{CommuneId, DeviceId, RecordId, UserId, VillageId};
    use crate::record::{Editor, Record};
    use crate::schema::{CaseStatus, RecordKind};
    use crate::{Date, Edit, sample};
    use uuid::Uuid;

    /// Whether `text` is anywhere in the record's history (values before and after each change).
    fn mentions(saved: &[u8], text: &str) -> bool {
        let mut record = Record::load(saved, None).unwrap();
        serde_json::to_string(&record.field_history()).unwrap().contains(text)
    }

    #[test]
    fn a_compacted_record_keeps_its_values_and_creation_and_forgets_the_rest() {
        let editor = Editor { device: DeviceId(Uuid::from_u128(1)), user: UserId(Uuid::from_u128(2)) };
        let id = RecordId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let (commune, village) = (CommuneId(Uuid::from_u128(3)), VillageId(Uuid::from_u128(4)));
        let mut edits = sample::gbv_referral(1, 2026);
        edits.push(Edit::Notes("OLD-NOTE bị đánh ngày 3".into()));
        let (mut record, _) =
            Record::create(RecordKind::GbvReferral, id, commune, village, editor, &edits, 1_780_000_000_000).unwrap();
        record.edit(&[Edit::Notes("đã chuyển gửi".into())], 1_780_000_100_000).unwrap();
        record.edit(&[Edit::CaseCode("OLD-CODE".into())], 1_780_000_200_000).unwrap();
        record.edit(&[Edit::CaseCode("TY-0001".into())], 1_780_000_300_000).unwrap();
        record.submit(Date::new(2026, 12, 31).unwrap(), 1_780_000_400_000).unwrap();
        let mut before = record.view();
        before.heads.clear();
        assert!(mentions(&record.save(), "OLD-CODE") && mentions(&record.save(), "OLD-NOTE"));

        let (mut purged, change) = record.compacted().unwrap();
        let mut after = purged.view();
        after.heads.clear();
        assert_eq!(after, before, "the same projection (but its heads), review state and creation included");
        let saved = purged.save();
        assert!(!mentions(&saved, "OLD-NOTE") && !mentions(&saved, "OLD-CODE"));
        assert_eq!(purged.changes(), vec![change.clone()], "one change");
        assert_eq!(
            purged.creation_hash().map(|h| h.to_vec()),
            Some(crate::inspect::inspect_change(&change).unwrap().hash.to_vec())
        );

        // Edits after the purge work as before, by the same device.
        let mut phone = Record::load(&saved, Some(editor)).unwrap();
        let next = phone.edit(&[Edit::CaseStatus(CaseStatus::Closed)], 1_780_000_500_000).unwrap().unwrap();
        purged.apply_changes(&[next]).unwrap();
        assert!(purged.missing_deps().is_empty());
        after = purged.view();
        assert_eq!(after.case_status, Some(CaseStatus::Closed));
    }
}
