//! Review actions (submit, approve, return) and the review state derived from the review map
//! and the causal history: changed after approval, and delete conflicts.

use super::{Record, RecordError};
use crate::ids::Date;
use crate::schema::{Coded, ReviewState};
use crate::validate::validate;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

impl Record {
    /// Every concurrent review state (more than one while a review conflict is open).
    pub(crate) fn review_states(&self) -> Vec<ReviewState> {
        (0..self.doc.get_all(ROOT, "review").map(|v| v.len()).unwrap_or(0))
            .map(|i| self.review_at_choice(i).0)
            .collect()
    }

    /// Submits the record for review. Requires a valid record (drafts may be invalid).
    pub fn submit(&mut self, today: Date, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        let view = self.view();
        let from = view.review_state;
        if !matches!(from, ReviewState::Draft | ReviewState::Returned) {
            return Err(RecordError::Transition { from, action: "submit" });
        }
        if view.deleted {
            return Err(RecordError::Deleted);
        }
        let errors = validate(&view, today);
        if !errors.is_empty() {
            return Err(RecordError::Invalid(errors));
        }
        self.put_review(ReviewState::Submitted, None)?;
        Ok(self.commit(now_ms).expect("review writes always change the document"))
    }

    /// Approves a submitted record (a reviewer's action).
    pub fn approve(&mut self, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        self.review_action(ReviewState::Approved, None, "approve", now_ms)
    }

    /// Returns a submitted record to its author with a comment (a reviewer's action).
    pub fn return_to_author(&mut self, comment: &str, now_ms: i64) -> Result<Vec<u8>, RecordError> {
        if comment.trim().is_empty() {
            return Err(RecordError::CommentRequired);
        }
        self.review_action(ReviewState::Returned, Some(comment), "return", now_ms)
    }

    fn review_action(
        &mut self,
        to: ReviewState,
        comment: Option<&str>,
        action: &'static str,
        now_ms: i64,
    ) -> Result<Vec<u8>, RecordError> {
        let from = self.review().0;
        if from != ReviewState::Submitted {
            return Err(RecordError::Transition { from, action });
        }
        if self.deleted_at().is_some() {
            return Err(RecordError::Deleted);
        }
        self.put_review(to, comment)?;
        Ok(self.commit(now_ms).expect("review writes always change the document"))
    }

    /// (state, comment, changed after approval), derived from the review map and the causal
    /// history: a record approved or returned is edited since if any change that writes content
    /// is not an ancestor of the review's change (made concurrently with it, or after it). No
    /// counter a client writes enters into it, so a crafted change cannot hide an edit.
    pub(crate) fn review(&mut self) -> (ReviewState, Option<String>, bool) {
        let Ok(Some((Value::Object(ObjType::Map), obj))) = self.doc.get(ROOT, "review") else {
            return (ReviewState::Draft, None, false);
        };
        let (state, _, comment) = read_review(&self.doc, &obj);
        let edited_since =
            matches!(state, ReviewState::Approved | ReviewState::Returned) && self.content_not_before(&obj);
        match state {
            ReviewState::Approved if edited_since => (ReviewState::Submitted, None, true),
            ReviewState::Returned if edited_since => (ReviewState::Submitted, comment, false),
            s => (s, comment, false),
        }
    }

    /// Whether some change that writes content is not an ancestor of the change that made `op`.
    fn content_not_before(&mut self, op: &ObjId) -> bool {
        let Some(hash) = self.doc.hash_for_opid(op) else { return false };
        self.doc.get_changes(&[hash]).iter().any(|c| c.hash() != hash && crate::rules::touches_content(c))
    }

    /// Deleted, and some content change is not an ancestor of the delete: a delete concurrent
    /// with (or overtaken by) an edit, which a person should look at.
    pub(super) fn delete_conflict(&mut self) -> bool {
        match self.doc.get(ROOT, "deleted") {
            Ok(Some((Value::Scalar(s), id))) if s.as_i64().is_some() => self.content_not_before(&id),
            _ => false,
        }
    }

    pub(super) fn review_at_choice(&self, choice: usize) -> (ReviewState, Option<String>) {
        match self.doc.get_all(ROOT, "review").ok().and_then(|v| v.into_iter().nth(choice)) {
            Some((Value::Object(ObjType::Map), obj)) => {
                let (state, _, comment) = read_review(&self.doc, &obj);
                (state, comment)
            }
            _ => (ReviewState::Draft, None),
        }
    }

    pub(super) fn put_review(&mut self, state: ReviewState, comment: Option<&str>) -> Result<(), RecordError> {
        let at = self.edit_count();
        let obj = self.doc.put_object(ROOT, "review", ObjType::Map)?;
        self.doc.put(&obj, "state", state.code())?;
        self.doc.put(&obj, "at", ScalarValue::Int(at))?;
        if let Some(c) = comment {
            self.doc.put(&obj, "comment", c)?;
        }
        Ok(())
    }
}

fn read_review(doc: &AutoCommit, obj: &ObjId) -> (ReviewState, i64, Option<String>) {
    let s = |k: &str| match doc.get(obj, k) {
        Ok(Some((Value::Scalar(v), _))) => Some(v.into_owned()),
        _ => None,
    };
    let state = s("state").and_then(|v| v.as_str().and_then(ReviewState::from_code)).unwrap_or(ReviewState::Draft);
    let at = s("at").and_then(|v| v.as_i64()).unwrap_or(0);
    let comment = s("comment").and_then(|v| v.as_str().map(str::to_string));
    (state, at, comment)
}
