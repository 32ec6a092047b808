//! Who wrote what: the attribution of values and changes, and a record's field history.

use super::{Record, hex};
use crate::field::Field;
use crate::ids::{DeviceId, UserId};
use crate::rules::IDENTITY_KEYS;
use crate::schema::Coded;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Who set a value, from which device and when (device clock, milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attribution {
    /// The device (Automerge actor) that made the change.
    pub device: Option<DeviceId>,
    /// The user (Automerge author) signed in on it.
    pub user: Option<UserId>,
    /// The device's clock when the change was committed: advisory, phones' clocks can be wrong.
    pub at_ms: i64,
}

/// One change of a record: who made it, when, and what it did to the record's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// The change hash, lower-case hex.
    pub hash: String,
    /// The device's clock when the change was committed: advisory, phones' clocks can be wrong.
    pub at_ms: i64,
    /// The device (Automerge actor) that made the change.
    pub device: Option<DeviceId>,
    /// The user (Automerge author) signed in on it.
    pub user: Option<UserId>,
    /// The fields the change altered, in schema order (identity first, then the kind's fields,
    /// then `review` and `deleted`). Empty for a change that altered no field.
    pub changes: Vec<FieldChange>,
}

/// One field a change altered: its value as the writer saw it (the change's dependencies) and
/// as the change left it.
///
/// Values are JSON: scalars as themselves (codes for enumerations, dates as `YYYY-MM-DD`, ids
/// as UUID strings), sets as sorted lists of member codes, `notes` as its text, `review` as
/// `{"state": code}` plus `"comment"` if any, `deleted` as the int it holds or null after a
/// restore. `None` (the key left out of the JSON) is a field not in the document at all, which
/// is different from a field holding null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// The root key: `attendance_female`, `topics`, `notes`, `review`, `deleted`, … (never the
    /// `edits` counter, which is bookkeeping).
    pub field: String,
    /// Before the change.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub from: Option<Json>,
    /// After the change.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub to: Option<Json>,
}

/// A key present in the JSON is a value, null included (plain `Option` would read null as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

impl Record {
    pub(super) fn attribution(&mut self, id: &ObjId) -> Attribution {
        let Some(hash) = self.doc.hash_for_opid(id) else {
            return Attribution { device: None, user: None, at_ms: 0 };
        };
        match self.doc.get_change_meta_by_hash(&hash) {
            Some(meta) => Attribution {
                device: DeviceId::from_slice(meta.actor.as_ref().as_ref()),
                user: meta.author.as_ref().and_then(|a| UserId::from_slice(a.as_bytes())),
                at_ms: meta.timestamp,
            },
            None => Attribution { device: None, user: None, at_ms: 0 },
        }
    }

    /// Who created the record: the author of the change that set its kind.
    pub fn creation(&mut self) -> Attribution {
        match self.doc.get(ROOT, "kind") {
            Ok(Some((_, id))) => self.attribution(&id),
            _ => Attribution { device: None, user: None, at_ms: 0 },
        }
    }

    /// Every change of the document with who made it (for a record's field history).
    pub fn history(&mut self) -> Vec<(Attribution, [u8; 32])> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                (
                    Attribution {
                        device: DeviceId::from_slice(m.actor.as_ref().as_ref()),
                        user: m.author.as_ref().and_then(|a| UserId::from_slice(a.as_bytes())),
                        at_ms: m.timestamp,
                    },
                    m.hash.0,
                )
            })
            .collect()
    }

    /// The field history: every change in causal order (oldest first) with who made it, when,
    /// and which fields it changed from what to what (see [`FieldChange`]).
    ///
    /// Each change is compared as its writer saw the record (the state at its dependencies) with
    /// the state it produced (its dependencies plus itself), so a value that lost a concurrent
    /// write still shows as written by its change. Identity keys appear only in the creation
    /// change. Reads are historical (`get_at`): no document is forked. The state a change
    /// produced is kept until every change whose only dependency it is has been compared, so a
    /// linear history costs one projection per change; a change with several dependencies (made
    /// after a merge) costs one more.
    pub fn field_history(&mut self) -> Vec<HistoryEntry> {
        let creation = self.creation_hash().map(ChangeHash);
        let metas: Vec<_> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let device = DeviceId::from_slice(m.actor.as_ref().as_ref());
                let user = m.author.as_ref().and_then(|a| UserId::from_slice(a.as_bytes()));
                (m.hash, m.deps, m.timestamp, device, user)
            })
            .collect();
        let keys: Vec<&str> =
            Field::of_kind(self.kind).iter().chain(&[Field::Review, Field::Deleted]).map(|f| f.code()).collect();
        // How many changes are still to read each change's resulting state as their `before`.
        let mut readers: HashMap<ChangeHash, usize> = HashMap::new();
        for (_, deps, ..) in &metas {
            if let [dep] = deps.as_slice() {
                *readers.entry(*dep).or_default() += 1;
            }
        }
        let mut after_of: HashMap<ChangeHash, Vec<Option<Json>>> = HashMap::new();
        let mut out = Vec::with_capacity(metas.len());
        for (hash, deps, at_ms, device, user) in metas {
            let doc = &self.doc;
            let before = match deps.as_slice() {
                [] => vec![None; keys.len()],
                [dep] => {
                    let last = readers.get_mut(dep).map(|n| {
                        *n -= 1;
                        *n == 0
                    });
                    match (after_of.get(dep), last) {
                        (Some(_), Some(true)) => after_of.remove(dep).unwrap_or_default(),
                        (Some(state), _) => state.clone(),
                        (None, _) => project(doc, &keys, &deps),
                    }
                }
                _ => project(doc, &keys, &deps),
            };
            let after = project(doc, &keys, &[hash]);
            let mut changes = Vec::new();
            if Some(hash) == creation {
                let (b, a) = (project(doc, &IDENTITY_KEYS, &deps), project(doc, &IDENTITY_KEYS, &[hash]));
                diff(&IDENTITY_KEYS, b, &a, &mut changes);
            }
            diff(&keys, before, &after, &mut changes);
            if readers.get(&hash).is_some_and(|n| *n > 0) {
                after_of.insert(hash, after);
            }
            out.push(HistoryEntry { hash: hex(&hash.0), at_ms, device, user, changes });
        }
        out
    }
}

/// Appends the keys whose values differ.
fn diff(keys: &[&str], before: Vec<Option<Json>>, after: &[Option<Json>], out: &mut Vec<FieldChange>) {
    for ((key, from), to) in keys.iter().zip(before).zip(after) {
        if from != *to {
            out.push(FieldChange { field: (*key).to_string(), from, to: to.clone() });
        }
    }
}

/// The values of `keys` as at `heads` (nothing before the first change).
fn project(doc: &AutoCommit, keys: &[&str], heads: &[ChangeHash]) -> Vec<Option<Json>> {
    if heads.is_empty() {
        return vec![None; keys.len()];
    }
    keys.iter().map(|key| value_at(doc, key, heads)).collect()
}

/// One root key's value as at `heads`, as history shows it.
fn value_at(doc: &AutoCommit, key: &str, heads: &[ChangeHash]) -> Option<Json> {
    let (value, obj) = doc.get_at(ROOT, key, heads).ok().flatten()?;
    Some(match value {
        automerge::Value::Scalar(s) => scalar_json(&s),
        automerge::Value::Object(ObjType::Text) => Json::String(doc.text_at(&obj, heads).unwrap_or_default()),
        automerge::Value::Object(ObjType::Map) if key == "review" => {
            let mut review = serde_json::Map::new();
            for k in ["state", "comment"] {
                if let Ok(Some((automerge::Value::Scalar(s), _))) = doc.get_at(&obj, k, heads) {
                    review.insert(k.to_string(), scalar_json(&s));
                }
            }
            Json::Object(review)
        }
        // Sets: the member codes, sorted.
        automerge::Value::Object(ObjType::Map | ObjType::Table) => {
            let mut members: Vec<String> = doc.keys_at(&obj, heads).collect();
            members.sort();
            Json::Array(members.into_iter().map(Json::String).collect())
        }
        // No record holds a list at the root.
        automerge::Value::Object(ObjType::List) => Json::Null,
    })
}

fn scalar_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(n) => Json::from(*n),
        ScalarValue::Uint(n) => Json::from(*n),
        ScalarValue::F64(n) => Json::from(*n),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Timestamp(n) => Json::from(*n),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(b) => match uuid::Uuid::from_slice(b) {
            Ok(id) => Json::String(id.to_string()),
            Err(_) => Json::String(b.iter().map(|b| format!("{b:02x}")).collect()),
        },
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Edit;
    use crate::ids::{CommuneId, Date, RecordId, VillageId};
    use crate::record::Editor;
    use crate::schema::*;
    use serde_json::json;
    use uuid::Uuid;

    fn editor(n: u128) -> Editor {
        Editor { device: DeviceId(Uuid::from_u128(n)), user: UserId(Uuid::from_u128(n + 100)) }
    }

    fn field(field: &str, from: Option<Json>, to: Option<Json>) -> FieldChange {
        FieldChange { field: field.to_string(), from, to }
    }

    fn entry(h: &[HistoryEntry], at_ms: i64) -> &HistoryEntry {
        h.iter().find(|e| e.at_ms == at_ms).unwrap_or_else(|| panic!("no change at {at_ms}: {h:#?}"))
    }

    /// Phone A creates an activity; phone B adds a topic and appends to the notes while phone A
    /// corrects the female attendance; A merges and submits, a reviewer returns it with a
    /// comment, A deletes it and an admin restores it.
    #[test]
    fn field_history_says_who_changed_what_from_what_to_what() {
        let (a, b, r) = (editor(1), editor(2), editor(3));
        let (t0, t1) = (Topic::ALL[0], Topic::ALL[1]);
        let (mut rec_a, created) = Record::create(
            RecordKind::Activity,
            RecordId(Uuid::from_u128(7)),
            CommuneId(Uuid::from_u128(8)),
            VillageId(Uuid::from_u128(9)),
            a,
            &[
                Edit::Unit("hlhpn".into()),
                Edit::PlanItem(PlanItem::ALL[0]),
                Edit::ActivityType(ActivityType::Training),
                Edit::HeldOn(Date::new(2026, 3, 2).unwrap()),
                Edit::Location("Nhà văn hóa thôn Đông".into()),
                Edit::AttendanceFemale(20),
                Edit::AttendanceMale(10),
                Edit::AddTopic(t0),
                Edit::Notes("Buổi 1.".into()),
            ],
            1_000,
        )
        .unwrap();
        let mut rec_b = Record::from_changes(&[created], Some(b)).unwrap();
        let by_b =
            rec_b.edit(&[Edit::AddTopic(t1), Edit::Notes("Buổi 1. Thêm ghi chú.".into())], 2_000).unwrap().unwrap();
        rec_a.edit(&[Edit::AttendanceFemale(25)], 2_500).unwrap().unwrap();
        rec_a.apply_changes(&[by_b]).unwrap();
        rec_a.submit(Date::new(2026, 12, 31).unwrap(), 3_000).unwrap();
        let mut rec_r = Record::load(&rec_a.save(), Some(r)).unwrap();
        let returned = rec_r.return_to_author("Thiếu số liệu", 3_500).unwrap();
        rec_a.apply_changes(&[returned]).unwrap();
        rec_a.delete(4_000).unwrap();
        rec_a.restore(5_000).unwrap().unwrap();

        let h = rec_a.field_history();
        assert_eq!(h.len(), 7);
        let hashes: Vec<String> = rec_a.history().iter().map(|(_, hash)| hex(hash)).collect();
        assert_eq!(h.iter().map(|e| e.hash.clone()).collect::<Vec<_>>(), hashes, "causal order, as history()");
        assert_eq!((h[0].at_ms, h[6].at_ms), (1_000, 5_000));

        let creation = &h[0];
        assert_eq!((creation.device, creation.user), (Some(a.device), Some(a.user)));
        let fields: Vec<&str> = creation.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "schema_version",
                "id",
                "kind",
                "commune",
                "village",
                "unit",
                "plan_item",
                "activity_type",
                "topics",
                "held_on",
                "location",
                "attendance_female",
                "attendance_male",
                "notes"
            ]
        );
        assert!(creation.changes.iter().all(|c| c.from.is_none()));
        assert_eq!(creation.changes[1], field("id", None, Some(json!(Uuid::from_u128(7).to_string()))));
        assert_eq!(creation.changes[2], field("kind", None, Some(json!("activity"))));
        assert_eq!(creation.changes[8], field("topics", None, Some(json!([t0.code()]))));

        let mut members = vec![t0.code(), t1.code()];
        members.sort();
        let from_b = entry(&h, 2_000);
        assert_eq!((from_b.device, from_b.user), (Some(b.device), Some(b.user)));
        assert_eq!(
            from_b.changes,
            [
                field("topics", Some(json!([t0.code()])), Some(json!(members))),
                field("notes", Some(json!("Buổi 1.")), Some(json!("Buổi 1. Thêm ghi chú."))),
            ]
        );
        let from_a = entry(&h, 2_500);
        assert_eq!(from_a.device, Some(a.device));
        assert_eq!(from_a.changes, [field("attendance_female", Some(json!(20)), Some(json!(25)))]);

        // Made after the merge (two dependencies): only the review changed.
        let submit = entry(&h, 3_000);
        assert_eq!(submit.device, Some(a.device));
        assert_eq!(submit.changes, [field("review", None, Some(json!({"state": "submitted"})))]);
        let ret = entry(&h, 3_500);
        assert_eq!((ret.device, ret.user), (Some(r.device), Some(r.user)));
        assert_eq!(
            ret.changes,
            [field(
                "review",
                Some(json!({"state": "submitted"})),
                Some(json!({"state": "returned", "comment": "Thiếu số liệu"}))
            )]
        );
        // The delete holds the number of content edits its device had seen: creation, B, A.
        assert_eq!(entry(&h, 4_000).changes, [field("deleted", None, Some(json!(3)))]);
        assert_eq!(entry(&h, 5_000).changes, [field("deleted", Some(json!(3)), Some(Json::Null))]);
    }

    #[test]
    fn json_keeps_absent_apart_from_null() {
        let entry = HistoryEntry {
            hash: "00".repeat(32),
            at_ms: 5,
            device: Some(editor(1).device),
            user: None,
            changes: vec![field("deleted", Some(json!(3)), Some(Json::Null)), field("unit", None, Some(json!("x")))],
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains(r#"{"field":"deleted","from":3,"to":null}"#), "{text}");
        assert!(text.contains(r#"{"field":"unit","to":"x"}"#), "{text}");
        assert_eq!(serde_json::from_str::<HistoryEntry>(&text).unwrap(), entry);
    }

    #[test]
    fn a_long_linear_history_reports_every_edit() {
        let (mut rec, _) = Record::create(
            RecordKind::Activity,
            RecordId(Uuid::from_u128(7)),
            CommuneId(Uuid::from_u128(8)),
            VillageId(Uuid::from_u128(9)),
            editor(1),
            &[Edit::AttendanceFemale(0)],
            0,
        )
        .unwrap();
        for n in 1..=300u32 {
            rec.edit(&[Edit::AttendanceFemale(n)], i64::from(n)).unwrap().unwrap();
        }
        let h = rec.field_history();
        assert_eq!(h.len(), 301);
        for (n, e) in h.iter().enumerate().skip(1) {
            assert_eq!(e.changes, [field("attendance_female", Some(json!(n - 1)), Some(json!(n)))]);
        }
    }
}
