//! Property: random changes from random roles, made through the record API or crafted directly
//! in Automerge (review maps, deletes, identity rewrites, case status), checked by
//! `guard::check_changes` as the server checks them, never move a record to a state its writer's
//! role may not cause; and identity and creator never change.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ScalarValue};
use proptest::prelude::*;
use sotay_sync_core::guard::check_changes;
use sotay_sync_core::rules::{Channel, Writer};
use sotay_sync_core::schema::*;
use sotay_sync_core::*;
use uuid::Uuid;

const BASE: i64 = 1_795_000_000_000;

fn today() -> Date {
    Date::from_unix_ms(BASE)
}

/// Writer `i`: 0 and 1 collaborators (0 created the record), 2 reviewer, 3 focal point, 4 admin.
fn writer(i: usize) -> (Editor, Role) {
    let role = [Role::Collaborator, Role::Collaborator, Role::Reviewer, Role::GbvFocalPoint, Role::Admin][i];
    (
        Editor {
            device: DeviceId(Uuid::from_u128(0xde00 + i as u128)),
            user: UserId(Uuid::from_u128(0x5e00 + i as u128)),
        },
        role,
    )
}

#[derive(Debug, Clone)]
enum Action {
    Edit(u32),
    Submit,
    Approve,
    Return,
    Delete,
    Restore,
    /// A review map written by hand with this state, skipping every local check.
    CraftReview(ReviewState),
    /// `case_status` written by hand.
    CraftCaseStatus,
    /// `kind` deleted and written again with the same value.
    CraftIdentity,
    /// A content edit that does not increment `edits`.
    CraftSilentEdit(i64),
    /// `deleted` written by hand (null = restore).
    CraftDeleted(bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u32..50).prop_map(Action::Edit),
        Just(Action::Submit),
        Just(Action::Approve),
        Just(Action::Return),
        Just(Action::Delete),
        Just(Action::Restore),
        prop::sample::select(vec![ReviewState::Submitted, ReviewState::Approved, ReviewState::Returned])
            .prop_map(Action::CraftReview),
        Just(Action::CraftCaseStatus),
        Just(Action::CraftIdentity),
        (0i64..500).prop_map(Action::CraftSilentEdit),
        any::<bool>().prop_map(Action::CraftDeleted),
    ]
}

fn initial(kind: RecordKind) -> Vec<Edit> {
    match kind {
        RecordKind::Activity => vec![
            Edit::Unit("hlhpn".into()),
            Edit::PlanItem(PlanItem::CommunicationProgramme),
            Edit::ActivityType(ActivityType::Communication),
            Edit::Format(Some(Format::Club)),
            Edit::HeldOn("2026-11-16".parse().unwrap()),
            Edit::Location("Nhà văn hóa".into()),
            Edit::AttendanceFemale(20),
            Edit::AttendanceMale(15),
        ],
        RecordKind::GbvReferral => vec![
            Edit::Unit("hlhpn".into()),
            Edit::PlanItem(PlanItem::GbvProgramme),
            Edit::CaseCode("TY-0001".into()),
            Edit::ReportedOn("2026-11-16".parse().unwrap()),
            Edit::SurvivorSex(Sex::ALL[0]),
            Edit::SurvivorAgeGroup(AgeGroup::ALL[2]),
            Edit::AddViolenceType(ViolenceType::ALL[0]),
            Edit::Setting(Setting::ALL[0]),
            Edit::AddReferredTo(Service::ALL[0]),
            Edit::CaseStatus(CaseStatus::Referred),
            Edit::ConsentToShare(false),
        ],
    }
}

/// Makes the change for an action on a replica of the server's document, if the action makes one.
fn make(server: &mut Record, who: Editor, kind: RecordKind, a: &Action, now: i64) -> Option<Vec<u8>> {
    let mut r = Record::load(&server.save(), Some(who)).unwrap();
    let mut raw = |f: &mut dyn FnMut(&mut AutoCommit)| -> Option<Vec<u8>> {
        let mut doc = AutoCommit::load(&server.save()).unwrap();
        doc.set_author(Some(automerge::Author::from(who.user.as_bytes().to_vec())));
        doc.set_actor(ActorId::from(who.device.as_bytes().as_slice()));
        f(&mut doc);
        doc.commit_with(CommitOptions::default().with_time(now));
        doc.get_last_local_change().map(|c| c.raw_bytes().to_vec())
    };
    match a {
        Action::Edit(n) => {
            let e = match kind {
                RecordKind::Activity => Edit::AttendanceFemale(*n),
                RecordKind::GbvReferral => Edit::Notes(format!("ghi chú {n}")),
            };
            r.edit(&[e], now).ok().flatten()
        }
        Action::Submit => r.submit(today(), now).ok(),
        Action::Approve => r.approve(now).ok(),
        Action::Return => r.return_to_author("thiếu số liệu", now).ok(),
        Action::Delete => r.delete(now).ok(),
        Action::Restore => r.restore(now).ok().flatten(),
        Action::CraftReview(state) => raw(&mut |doc| {
            let m = doc.put_object(ROOT, "review", ObjType::Map).unwrap();
            doc.put(&m, "state", state.code()).unwrap();
            doc.put(&m, "comment", "x").unwrap();
        }),
        Action::CraftCaseStatus => raw(&mut |doc| {
            doc.put(ROOT, "case_status", "closed").unwrap();
            doc.increment(ROOT, "edits", 1).unwrap();
        }),
        Action::CraftIdentity => raw(&mut |doc| {
            doc.delete(ROOT, "kind").unwrap();
            doc.put(ROOT, "kind", kind.code()).unwrap();
        }),
        Action::CraftSilentEdit(n) => raw(&mut |doc| {
            let key = if kind == RecordKind::Activity { "attendance_male" } else { "consent_to_share" };
            let v = if kind == RecordKind::Activity { ScalarValue::Int(*n) } else { ScalarValue::Boolean(n % 2 == 0) };
            doc.put(ROOT, key, v).unwrap();
        }),
        Action::CraftDeleted(delete) => raw(&mut |doc| {
            let v = if *delete { ScalarValue::Int(0) } else { ScalarValue::Null };
            doc.put(ROOT, "deleted", v).unwrap();
        }),
    }
}

/// Whether a writer of this role may cause the record to go from `before` to `after`. Written
/// out from SPEC §5, not derived from `rules::permits`.
fn may_cause(role: Role, channel: Channel, kind: RecordKind, before: &RecordView, after: &RecordView) -> bool {
    use ReviewState::*;
    let web = channel == Channel::Api;
    let reviews_kind = match kind {
        RecordKind::Activity => role == Role::Reviewer,
        RecordKind::GbvReferral => role == Role::GbvFocalPoint,
    };
    let edits_kind = match kind {
        RecordKind::Activity => matches!(role, Role::Collaborator | Role::Reviewer),
        RecordKind::GbvReferral => role == Role::Collaborator,
    };
    let content_changed = before.attendance_female != after.attendance_female
        || before.attendance_male != after.attendance_male
        || before.notes != after.notes
        || before.consent_to_share != after.consent_to_share;
    let review_ok = match (before.review_state, after.review_state) {
        (a, b) if a == b => true,
        (Draft, Submitted) => role == Role::Collaborator,
        // Submitted again, or reopened by an edit.
        (Returned, Submitted) => role == Role::Collaborator || edits_kind,
        (Submitted, Approved | Returned) => reviews_kind && web,
        // An edit reopens an approved record.
        (Approved, Submitted) => edits_kind && after.changed_after_approval,
        _ => false,
    };
    let delete_ok = match (before.deleted, after.deleted) {
        (false, true) => role == Role::Collaborator || (role == Role::Reviewer && kind == RecordKind::Activity),
        (true, false) => role == Role::Admin && web,
        _ => true,
    };
    let case_ok = before.case_status == after.case_status || (role == Role::GbvFocalPoint && web);
    let content_ok = !content_changed || edits_kind;
    review_ok && delete_ok && case_ok && content_ok
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_changes_from_random_roles_only_make_transitions_their_role_may_cause(
        gbv in any::<bool>(),
        steps in prop::collection::vec((0usize..5, any::<bool>(), action()), 1..40),
    ) {
        let kind = if gbv { RecordKind::GbvReferral } else { RecordKind::Activity };
        let (creator, _) = writer(0);
        let id = RecordId(Uuid::from_u128(0x019a_0000_0000_7000_8000_0000_0000_00aa));
        let (_, first) = Record::create(
            kind, id, CommuneId(Uuid::from_u128(0xc0)), VillageId(Uuid::from_u128(0x71)),
            creator, &initial(kind), BASE,
        ).unwrap();
        let mut server = Record::from_changes(&[first], None).unwrap();
        let created = server.view().created;
        for (step, (who, web, a)) in steps.iter().enumerate() {
            let (editor, role) = writer(*who);
            let channel = if *web { Channel::Api } else { Channel::Sync };
            let now = BASE + 1000 * (step as i64 + 1);
            let Some(change) = make(&mut server, editor, kind, a, now) else { continue };
            let before = server.view();
            let mut candidate = Record::load(&server.save(), None).unwrap();
            let heads = candidate.heads();
            if candidate.apply_changes(&[change]).is_err() {
                continue;
            }
            let new = candidate.changes_since(&heads);
            let new: Vec<_> = new.iter().map(|c| (c.0, c.2.as_slice())).collect();
            if check_changes(&mut candidate, &new, Writer { role, channel }, today()).is_err() {
                continue;
            }
            let after = candidate.view();
            prop_assert!(
                may_cause(role, channel, kind, &before, &after),
                "{role:?} by {channel:?} did {a:?}: {:?}/{} deleted {} case {:?} -> {:?}/{} deleted {} case {:?}",
                before.review_state, before.changed_after_approval, before.deleted, before.case_status,
                after.review_state, after.changed_after_approval, after.deleted, after.case_status,
            );
            prop_assert_eq!(&after.created, &created);
            prop_assert_eq!((after.id, after.kind, after.commune, after.village), (before.id, before.kind, before.commune, before.village));
            server = candidate;
        }
    }
}
