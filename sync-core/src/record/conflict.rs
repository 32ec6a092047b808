//! Conflicts (a field two replicas set concurrently to different values) and their resolution.

use super::{Record, RecordError};
use crate::field::{Field, MergeKind};
use crate::record::Attribution;
use crate::schema::Coded;
use automerge::transaction::Transactable;
use automerge::{ObjId, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

/// One of the concurrent values of a conflicted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictValue {
    /// The value as text (codes for enumerations).
    pub value: String,
    /// Who set it.
    #[serde(flatten)]
    pub by: Attribution,
    /// Whether this is the value shown while the conflict is open (deterministic on every replica).
    pub shown: bool,
}

/// A field that two replicas set concurrently to different values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    /// The field.
    pub field: Field,
    /// Every concurrent value, in the document's deterministic order.
    pub values: Vec<ConflictValue>,
}

impl Record {
    /// This is an ordinary edit: once merged everywhere, the conflict is gone on every replica.
    pub fn resolve(&mut self, field: Field, choice: usize, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        if field != Field::Deleted && self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        let chosen: Option<Option<ScalarValue>> = {
            let values = self.doc.get_all(ROOT, field.code())?;
            if values.len() < 2 || field.merge_kind() != MergeKind::Scalar {
                return Err(RecordError::NoSuchConflict(field.code()));
            }
            values.into_iter().nth(choice).map(|(v, _)| match v {
                Value::Scalar(s) => Some(s.into_owned()),
                Value::Object(_) => None,
            })
        };
        match (field, chosen) {
            (_, None) => return Err(RecordError::NoSuchConflict(field.code())),
            (Field::Review, Some(None)) => {
                let (state, comment) = self.review_at_choice(choice);
                self.put_review(state, comment.as_deref())?;
                return self.commit(now_ms).ok_or(RecordError::NoSuchConflict(field.code()));
            }
            (_, Some(Some(s))) => {
                if let Err(e) = self.doc.put(ROOT, field.code(), s) {
                    self.doc.rollback();
                    return Err(e.into());
                }
            }
            (_, Some(None)) => return Err(RecordError::NoSuchConflict(field.code())),
        }
        if field == Field::Deleted {
            return self.commit(now_ms).ok_or(RecordError::NoSuchConflict(field.code()));
        }
        match self.finish_edit(now_ms) {
            Ok(Some(change)) => Ok(change),
            Ok(None) => Err(RecordError::NoSuchConflict(field.code())),
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    /// Every open scalar conflict, with each value and who set it.
    pub fn conflicts(&mut self) -> Vec<Conflict> {
        let mut out = Vec::new();
        let fields = Field::of_kind(self.kind).iter().copied().chain([Field::Review, Field::Deleted]);
        for field in fields.filter(|f| f.merge_kind() == MergeKind::Scalar) {
            let all: Vec<(Option<String>, ObjId)> = match self.doc.get_all(ROOT, field.code()) {
                Ok(all) if all.len() > 1 => all
                    .into_iter()
                    .map(|(v, id)| (if let Value::Scalar(s) = v { Some(scalar_text(&s)) } else { None }, id))
                    .collect(),
                _ => continue,
            };
            let shown = self.doc.get(ROOT, field.code()).ok().flatten().map(|(_, id)| id);
            let mut values = Vec::with_capacity(all.len());
            for (i, (text, id)) in all.iter().enumerate() {
                let text = text.clone().unwrap_or_else(|| match self.review_at_choice(i) {
                    (state, Some(comment)) => format!("{}: {comment}", state.code()),
                    (state, None) => state.code().to_string(),
                });
                values.push(ConflictValue { value: text, by: self.attribution(id), shown: Some(id) == shown.as_ref() });
            }
            // The same value set concurrently by two replicas is agreement, not a conflict.
            if values.iter().all(|v| v.value == values[0].value) {
                continue;
            }
            out.push(Conflict { field, values });
        }
        out
    }
}

fn scalar_text(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Int(n) => n.to_string(),
        ScalarValue::Uint(n) => n.to_string(),
        ScalarValue::F64(n) => n.to_string(),
        ScalarValue::Boolean(b) => b.to_string(),
        ScalarValue::Null => String::new(),
        other => other.to_string(),
    }
}
