//! The server's check of newly applied changes against a record: schema, identity, the writer's
//! role ([`crate::rules`]) and review transitions, change by change in causal order.
//!
//! Kept apart from `rules` (which reads one change in isolation) because transitions and
//! validity need the record as the writer saw it: the document at the change's dependencies.

use crate::ids::Date;
use crate::record::Record;
use crate::rules::{self, Reason, Refusal, Writer};
use crate::schema::{Coded, ReviewState};
use crate::validate::validate;

/// Checks changes just applied to `record` (each its hash and bytes, in causal order) as written by
/// `writer`. `today` bounds dates for the validity checks of submitting and approving. A change the
/// document does not hold (still waiting for a dependency) is checked when it is applied.
///
/// The caller applies the changes first (to a copy it throws away on refusal), so a change that
/// depends on another of the same push sees it. The change is read from its bytes, not from the
/// document, which would rebuild it from its ops.
pub fn check_changes(
    record: &mut Record,
    changes: &[([u8; 32], &[u8])],
    writer: Writer,
    today: Date,
) -> Result<(), Refusal> {
    let kind = record.kind();
    let creation = record.creation_hash();
    let containers = record.containers();
    for (hash, bytes) in changes {
        if !record.has_change(hash) {
            continue;
        }
        let change = automerge::Change::from_bytes(bytes.to_vec())
            .ok()
            .filter(|c| c.hash().0 == *hash)
            .ok_or(Refusal { reason: Reason::NotInSchema, field: None })?;
        let effect = rules::effect_of(&change, kind, &containers)?;
        let is_creation = creation.as_ref() == Some(hash);
        if effect.creates != is_creation {
            return Err(Refusal { reason: Reason::IdentityRewritten, field: effect.identity_key.or(Some("kind")) });
        }
        rules::permits(writer, kind, &effect)?;
        if !effect.clears.is_empty() {
            let still_deleted = check_clears(record, hash, &effect.clears)?;
            if effect.clears.contains(&crate::Field::Deleted) {
                let pick = rules::Effect { delete: Some(still_deleted), ..Default::default() };
                rules::permits(writer, kind, &pick)?;
            }
        }
        if let Some((to, comment)) = &effect.review {
            check_transition(record, &change, *to, comment.as_deref(), today)?;
        }
    }
    Ok(())
}

/// A `delete` of a scalar field is how Automerge resolves a conflict in favour of a value that is
/// already there (it deletes the other values); it must leave a value, since clearing a field is
/// not something the app does (optional fields are cleared by writing null).
/// Returns whether the record is deleted after the change.
fn check_clears(record: &mut Record, hash: &[u8; 32], fields: &[crate::Field]) -> Result<bool, Refusal> {
    let mut after = record
        .at(&[automerge::ChangeHash(*hash)])
        .map_err(|_| Refusal { reason: Reason::InvalidValue, field: fields.first().map(|f| f.code()) })?;
    for field in fields {
        if !after.has_value(*field) {
            return Err(Refusal { reason: Reason::InvalidValue, field: Some(field.code()) });
        }
    }
    Ok(after.view().deleted)
}

/// A review write: allowed from the state the writer saw, or as a pick among concurrent review
/// values; submitting and approving need a valid record, returning a comment.
fn check_transition(
    record: &mut Record,
    change: &automerge::Change,
    to: ReviewState,
    comment: Option<&str>,
    today: Date,
) -> Result<(), Refusal> {
    let refuse = |reason| Err(Refusal { reason, field: Some("review") });
    let Ok(mut before) = record.at(change.deps()) else { return refuse(Reason::Transition) };
    let view = before.view();
    let from = view.review_state;
    let allowed = match to {
        ReviewState::Submitted => matches!(from, ReviewState::Draft | ReviewState::Returned),
        ReviewState::Approved | ReviewState::Returned => from == ReviewState::Submitted,
        ReviewState::Draft => false,
    };
    let resolves_conflict = before.review_states().len() > 1 && before.review_states().contains(&to);
    if view.deleted || !(allowed || resolves_conflict) {
        return refuse(Reason::Transition);
    }
    if to == ReviewState::Returned && comment.is_none_or(|c| c.trim().is_empty()) {
        return refuse(Reason::CommentRequired);
    }
    if matches!(to, ReviewState::Submitted | ReviewState::Approved) && !validate(&view, today).is_empty() {
        return refuse(Reason::InvalidRecord);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Edit;
    use crate::ids::{CommuneId, DeviceId, RecordId, UserId, VillageId};
    use crate::record::Editor;
    use crate::rules::Channel;
    use crate::schema::*;

    fn editor(n: u128) -> Editor {
        Editor { device: DeviceId(uuid::Uuid::from_u128(n)), user: UserId(uuid::Uuid::from_u128(n + 100)) }
    }

    #[test]
    fn ordinary_edits_of_a_collaborator_pass() {
        let ed = editor(1);
        let (mut rec, first) = Record::create(
            RecordKind::Activity,
            RecordId(uuid::Uuid::from_u128(7)),
            CommuneId(uuid::Uuid::from_u128(8)),
            VillageId(uuid::Uuid::from_u128(9)),
            ed,
            &[Edit::Unit("hlhpn".into()), Edit::AddTopic(Topic::GbvFamily), Edit::Notes("ghi chú".into())],
            1,
        )
        .unwrap();
        let writer = Writer { role: Role::Collaborator, channel: Channel::Sync };
        let today = Date::new(2026, 12, 1).unwrap();
        let mut server = Record::from_changes(&[first], None).unwrap();
        let all = server.changes_since(&[]);
        let all: Vec<_> = all.iter().map(|c| (c.0, c.2.as_slice())).collect();
        check_changes(&mut server, &all, writer, today).unwrap();
        let edits = [
            vec![Edit::AddTopic(Topic::HarmfulCustoms)],
            vec![Edit::RemoveTopic(Topic::GbvFamily)],
            vec![Edit::RemoveTopic(Topic::GbvFamily)],
            vec![Edit::AddTopic(Topic::GbvFamily)],
            vec![Edit::Notes("ghi chú của thôn Đông".into())],
            vec![Edit::Notes("của thôn".into())],
            vec![Edit::Format(Some(Format::Club))],
            vec![Edit::Format(None)],
            vec![Edit::Location("Điểm 1".into())],
            vec![Edit::Gps(Some(crate::GeoPoint { lat: 21.2, lon: 106.1 }))],
            vec![Edit::AttendanceEthnicMinority(None)],
            vec![Edit::AttendanceEthnicMinority(Some(3))],
        ];
        for (i, e) in edits.iter().enumerate() {
            let Some(change) = rec.edit(e, 10 + i as i64).unwrap() else { continue };
            let heads = server.heads();
            server.apply_changes(&[change]).unwrap();
            let new = server.changes_since(&heads);
            let new: Vec<_> = new.iter().map(|c| (c.0, c.2.as_slice())).collect();
            check_changes(&mut server, &new, writer, today).unwrap_or_else(|r| panic!("edit {i} {e:?}: {r:?}"));
        }
        let submit = rec.submit(today, 100);
        assert!(submit.is_err(), "an incomplete record cannot be submitted");
    }
}
