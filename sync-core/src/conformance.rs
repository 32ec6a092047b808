//! The [`DeviceStore`] conformance suite: every rule of a [`StoreBatch`] as one named check, so
//! that every store (memory, file, the phone's SQLite) behaves exactly like the reference,
//! [`MemoryStore`](crate::device::MemoryStore).
//!
//! A store crate runs the whole suite from one of its tests with
//! [`store_conformance!`](crate::store_conformance), given an expression that makes a fresh,
//! empty store:
//!
//! ```text
//! sotay_sync_core::store_conformance!(my_crate::MyStore::open_in_memory().unwrap());
//! ```
//!
//! Each check is also a public function taking that store, for a crate that wants to run one alone.
//! Stores are never reopened here: durability across a restart is each store's own test.

use crate::device::{
    Device, DeviceIdentity, DeviceStore, OutboxEntry, RejectedChange, StoreBatch, StoredRecord, SyncState,
};
use crate::field::Edit;
use crate::ids::{CommuneId, Date, DeviceId, RecordId, UserId, VillageId};
use crate::record::{Editor, Record, RecordView};
use crate::sample;
use crate::schema::{RecordKind, ReviewState};
use crate::wire::{RecordSnapshot, SnapshotCursor, SyncResponse};
use uuid::Uuid;

/// Runs the whole [`DeviceStore`] conformance suite: expands to a `mod store_conformance` with
/// one `#[test]` per rule, each given a fresh store made by evaluating `$make` again.
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@tests $make;
            local_create_lands_with_its_outbox_entry,
            outbox_seq_increases,
            outbox_respects_the_byte_cap_in_order,
            ack_through_removes_exactly_up_to_n,
            reject_sets_aside_every_entry_of_that_record,
            reject_without_ack_changes_nothing,
            reject_applies_before_ack,
            reset_drops_records_sets_unsent_aside_and_resets_state,
            sync_state_round_trips,
            records_upsert_replaces_doc_and_view,
            wipe_sensitive_removes_gbv_records_and_their_changes,
            device_round_trips_over_the_store,
            seq_keeps_increasing_after_a_full_ack,
            records_remove_drops_records_after_the_writes,
            rejected_remove_forgets_refused_changes_by_seq,
            a_refused_edit_is_rolled_back_and_can_be_resubmitted,
            a_refused_creation_is_removed_and_can_be_resubmitted_as_a_new_record,
            a_new_log_epoch_queues_the_devices_own_changes_and_starts_over,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        /// The `DeviceStore` conformance suite (`sotay_sync_core::conformance`).
        mod store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::$name($make);
                }
            )+
        }
    };
}

const YEAR: u16 = 2026;
/// A device-clock time during the sample year (2026-05-28).
const NOW: i64 = 1_780_000_000_000;

/// The device the suite writes as.
pub fn identity() -> DeviceIdentity {
    DeviceIdentity {
        device: DeviceId(Uuid::from_u128(0x5111)),
        user: UserId(Uuid::from_u128(0x5222)),
        commune: CommuneId(Uuid::from_u128(0x5333)),
        village: VillageId(Uuid::from_u128(0x5444)),
    }
}

fn editor() -> Editor {
    Editor { device: identity().device, user: identity().user }
}

fn today() -> Date {
    Date::new(YEAR, 12, 31).expect("a date")
}

/// A sample record created on this device, as the store gets it, with its creation change.
fn sample_record(kind: RecordKind, i: u32) -> (StoredRecord, Vec<u8>) {
    let edits = match kind {
        RecordKind::Activity => sample::activity(i, YEAR),
        RecordKind::GbvReferral => sample::gbv_referral(i, YEAR),
    };
    let tag = match kind {
        RecordKind::Activity => 0xa,
        RecordKind::GbvReferral => 0xb,
    };
    let id = RecordId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (tag << 32) | u128::from(i)));
    let who = identity();
    let (mut record, change) = Record::create(kind, id, who.commune, who.village, editor(), &edits, NOW + i64::from(i))
        .expect("sample record");
    (StoredRecord { id, doc: record.save(), view: record.view() }, change)
}

/// The batch of a local write: the record and its outbox entry.
fn local_write(record: StoredRecord, change: Vec<u8>) -> StoreBatch {
    StoreBatch { outbox_append: vec![(record.id, change)], records: vec![record], ..StoreBatch::default() }
}

/// Creates a sample record locally; returns its id.
fn create<S: DeviceStore>(store: &mut S, kind: RecordKind, i: u32) -> RecordId {
    let (record, change) = sample_record(kind, i);
    let id = record.id;
    store.commit(local_write(record, change)).expect("commit a local write");
    id
}

/// Appends opaque changes to the outbox; returns the entries as stored.
fn append<S: DeviceStore>(store: &mut S, changes: &[(RecordId, Vec<u8>)]) -> Vec<OutboxEntry> {
    store.commit(StoreBatch { outbox_append: changes.to_vec(), ..StoreBatch::default() }).expect("commit an append");
    let all = outbox(store);
    assert!(all.len() >= changes.len(), "appended {} entries, the outbox holds {}", changes.len(), all.len());
    let added = all[all.len() - changes.len()..].to_vec();
    for (e, (record, change)) in added.iter().zip(changes) {
        assert_eq!((&e.record, &e.change), (record, change), "appended entries keep their record, change and order");
    }
    added
}

fn ack<S: DeviceStore>(store: &mut S, through: u64) {
    store.commit(StoreBatch { outbox_ack_through: Some(through), ..StoreBatch::default() }).expect("commit an ack");
}

/// The whole outbox, checked against `outbox_len`.
fn outbox<S: DeviceStore>(store: &S) -> Vec<OutboxEntry> {
    let all = store.outbox(usize::MAX).expect("read the outbox");
    assert_eq!(store.outbox_len().expect("outbox length"), all.len(), "outbox_len agrees with outbox()");
    all
}

fn rejected<S: DeviceStore>(store: &S) -> Vec<RejectedChange> {
    store.rejected().expect("read the refused changes")
}

fn list<S: DeviceStore>(store: &S) -> Vec<RecordView> {
    let mut views = store.list_records().expect("list records");
    views.sort_by_key(|v| v.id);
    views
}

fn seqs(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

fn refused(entry: &OutboxEntry, code: &str, message: &str) -> RejectedChange {
    RejectedChange { entry: entry.clone(), code: code.into(), message: message.into() }
}

fn id(n: u128) -> RecordId {
    RecordId(Uuid::from_u128(n))
}

/// A local create lands as one: the record (document and projection) and its one outbox entry.
pub fn local_create_lands_with_its_outbox_entry<S: DeviceStore>(mut store: S) {
    assert!(list(&store).is_empty(), "a new store has no records");
    assert!(outbox(&store).is_empty(), "a new store has no outbox");
    assert!(rejected(&store).is_empty(), "a new store has no refused changes");
    assert_eq!(store.sync_state().expect("sync state"), SyncState::default(), "a new store starts at the beginning");

    let (record, change) = sample_record(RecordKind::Activity, 1);
    let (rid, doc, view) = (record.id, record.doc.clone(), record.view.clone());
    assert_eq!(store.load_record(rid).expect("load"), None);
    store.commit(local_write(record, change.clone())).expect("commit");

    assert_eq!(store.load_record(rid).expect("load"), Some(doc), "the saved document is stored as given");
    assert_eq!(list(&store), vec![view], "the projection is stored as given");
    let out = outbox(&store);
    assert_eq!(out.len(), 1, "one outbox entry per local write");
    assert_eq!((out[0].record, &out[0].change), (rid, &change));
    assert!(out[0].seq > 0, "sequence numbers start above 0");
    assert!(rejected(&store).is_empty());
    assert_eq!(store.sync_state().expect("sync state"), SyncState::default(), "a local write leaves the sync state");
}

/// Sequence numbers increase, within a batch and across batches, in append order.
pub fn outbox_seq_increases<S: DeviceStore>(mut store: S) {
    let (a, b) = (id(0xa), id(0xb));
    let first = append(&mut store, &[(a, vec![1; 10]), (b, vec![2; 20]), (a, vec![3; 30])]);
    let second = append(&mut store, &[(b, vec![4; 40])]);
    let all: Vec<OutboxEntry> = first.iter().chain(&second).cloned().collect();
    assert_eq!(outbox(&store), all, "the outbox is in append order");
    assert!(seqs(&all).windows(2).all(|w| w[0] < w[1]), "sequence numbers strictly increase: {:?}", seqs(&all));
}

/// `outbox(max_bytes)` returns entries in order while they fit, stops at the first that does not
/// (never skipping ahead to a smaller one), and always returns at least one when there is one.
pub fn outbox_respects_the_byte_cap_in_order<S: DeviceStore>(mut store: S) {
    assert!(store.outbox(0).expect("outbox").is_empty(), "an empty outbox gives nothing");
    let a = id(0xa);
    let all = append(&mut store, &[(a, vec![1; 100]), (a, vec![2; 400]), (a, vec![3; 50]), (a, vec![4; 300])]);
    for (cap, n) in
        [(0, 1), (1, 1), (99, 1), (100, 1), (499, 1), (500, 2), (549, 2), (550, 3), (849, 3), (850, 4), (usize::MAX, 4)]
    {
        assert_eq!(store.outbox(cap).expect("outbox"), all[..n].to_vec(), "outbox({cap}) gives the first {n}");
    }
}

/// Acknowledging through N removes exactly the entries up to and including N, and nothing else.
pub fn ack_through_removes_exactly_up_to_n<S: DeviceStore>(mut store: S) {
    let rid = create(&mut store, RecordKind::Activity, 2);
    let views = list(&store);
    let all: Vec<OutboxEntry> =
        outbox(&store).into_iter().chain(append(&mut store, &vec![(rid, vec![5; 5]); 4])).collect();
    assert_eq!(all.len(), 5);
    ack(&mut store, all[2].seq);
    assert_eq!(outbox(&store), all[3..].to_vec(), "entries after N stay");
    ack(&mut store, all[2].seq);
    assert_eq!(outbox(&store), all[3..].to_vec(), "acknowledging again changes nothing");
    ack(&mut store, all[4].seq);
    assert!(outbox(&store).is_empty());
    assert!(rejected(&store).is_empty(), "acknowledged changes are not refused changes");
    assert_eq!(list(&store), views, "acknowledging leaves records alone");
}

/// A refusal sets aside every entry of that record, in order, with the server's code and
/// message: those up to the acknowledged number, and later ones (made on top of them, so the
/// server could never take them). Other records' entries are acknowledged up to N and stay after.
pub fn reject_sets_aside_every_entry_of_that_record<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 3);
    let b = create(&mut store, RecordKind::Activity, 4);
    let views = list(&store);
    let mut all = outbox(&store); // a1, b1
    all.extend(append(&mut store, &[(a, vec![7; 7]), (b, vec![8; 8]), (a, vec![9; 9])])); // a2, b2, a3
    let (a1, b1, a2, b2, a3) = (&all[0], &all[1], &all[2], &all[3], &all[4]);
    assert_eq!((a1.record, b1.record), (a, b));
    store
        .commit(StoreBatch {
            outbox_reject: vec![(a, "forbidden".into(), "not your village".into())],
            outbox_ack_through: Some(a2.seq),
            ..StoreBatch::default()
        })
        .expect("commit");
    assert_eq!(
        rejected(&store),
        vec![
            refused(a1, "forbidden", "not your village"),
            refused(a2, "forbidden", "not your village"),
            refused(a3, "forbidden", "not your village"),
        ]
    );
    assert_eq!(outbox(&store), vec![b2.clone()], "b1 acknowledged; b2, after N, stays");
    assert_eq!(list(&store), views, "a refusal leaves the record itself alone");
}

/// Refusals are moved through the acknowledgement: without one, a refusal changes nothing.
pub fn reject_without_ack_changes_nothing<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 5);
    let before = outbox(&store);
    store
        .commit(StoreBatch { outbox_reject: vec![(a, "forbidden".into(), "no".into())], ..StoreBatch::default() })
        .expect("commit");
    assert_eq!(outbox(&store), before);
    assert!(rejected(&store).is_empty());
}

/// In one batch: new entries are appended first, then refusals are set aside, then the rest up
/// to N is acknowledged. Refusals keep the batch's order of records, each in sequence order.
pub fn reject_applies_before_ack<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 6);
    let b = create(&mut store, RecordKind::GbvReferral, 6);
    let mut all = outbox(&store); // a1, b1
    all.extend(append(&mut store, &[(a, vec![1; 3]), (b, vec![2; 3])])); // a2, b2
    let through = all[3].seq;
    store
        .commit(StoreBatch {
            outbox_append: vec![(a, vec![3; 3])],
            outbox_reject: vec![(b, "unprocessable".into(), "bad change".into()), (a, "forbidden".into(), "no".into())],
            outbox_ack_through: Some(through),
            ..StoreBatch::default()
        })
        .expect("commit");
    let refusals = rejected(&store);
    assert_eq!(
        refusals[..4],
        [
            refused(&all[1], "unprocessable", "bad change"),
            refused(&all[3], "unprocessable", "bad change"),
            refused(&all[0], "forbidden", "no"),
            refused(&all[2], "forbidden", "no"),
        ],
        "refused, not acknowledged"
    );
    assert_eq!(refusals.len(), 5, "the entry appended in the same batch is set aside with its record's");
    assert_eq!((refusals[4].entry.record, &refusals[4].entry.change), (a, &vec![3; 3]));
    assert!(refusals[4].entry.seq > through);
    assert!(outbox(&store).is_empty());
}

/// A reset (after the refusals and the acknowledgement) drops every record, even those of its own
/// batch, sets what is left in the outbox aside as `scope_changed`, and takes the new sync state.
pub fn reset_drops_records_sets_unsent_aside_and_resets_state<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 7);
    let b = create(&mut store, RecordKind::GbvReferral, 7);
    let mut all = outbox(&store); // a1, b1
    all.extend(append(&mut store, &[(a, vec![4; 4])])); // a2
    let provisioned = SyncState { cursor: 7, snapshot: None, provisioned: true, epoch: None };
    store.commit(StoreBatch { sync_state: Some(provisioned.clone()), ..StoreBatch::default() }).expect("commit");
    assert_eq!(store.sync_state().expect("sync state"), provisioned);

    let (c, c_change) = sample_record(RecordKind::Activity, 8);
    let c_id = c.id;
    store
        .commit(StoreBatch {
            records: vec![c],
            records_remove: Vec::new(),
            outbox_append: Vec::new(),
            outbox_reject: vec![(b, "forbidden".into(), "moved".into())],
            rejected_remove: Vec::new(),
            outbox_ack_through: Some(all[1].seq),
            reset: true,
            sync_state: Some(SyncState::default()),
        })
        .expect("commit");
    assert!(list(&store).is_empty(), "every record is dropped");
    for rid in [a, b, c_id] {
        assert_eq!(store.load_record(rid).expect("load"), None);
    }
    assert!(outbox(&store).is_empty(), "nothing is left to send");
    let refused_changes = rejected(&store);
    assert_eq!(refused_changes.len(), 2, "a1 was acknowledged; b1 refused; a2 set aside: {refused_changes:?}");
    assert_eq!(refused_changes[0], refused(&all[1], "forbidden", "moved"));
    assert_eq!((&refused_changes[1].entry, refused_changes[1].code.as_str()), (&all[2], "scope_changed"));
    assert!(!refused_changes[1].message.is_empty(), "a scope change says why");
    assert_eq!(store.sync_state().expect("sync state"), SyncState::default(), "sync starts again from nothing");

    let after = append(&mut store, &[(c_id, c_change)]);
    assert!(after[0].seq > all[2].seq, "sequence numbers never go back, even after a reset");
}

/// The sync state is stored as given (cursor, snapshot cursor with and without a record id,
/// provisioned) and kept by batches that carry none.
pub fn sync_state_round_trips<S: DeviceStore>(mut store: S) {
    assert_eq!(store.sync_state().expect("sync state"), SyncState::default());
    let states = [
        SyncState {
            cursor: 42,
            snapshot: Some(SnapshotCursor { upto: 40, after: None }),
            provisioned: false,
            epoch: None,
        },
        SyncState {
            cursor: 42,
            snapshot: Some(SnapshotCursor { upto: 40, after: Some(id(0x1234_5678).as_bytes().to_vec()) }),
            provisioned: false,
            epoch: None,
        },
        SyncState { cursor: 1 << 40, snapshot: None, provisioned: true, epoch: Some(vec![7; 16]) },
        SyncState {
            cursor: u64::MAX >> 1,
            snapshot: Some(SnapshotCursor { upto: 3, after: None }),
            provisioned: true,
            epoch: None,
        },
    ];
    for (i, state) in states.into_iter().enumerate() {
        store.commit(StoreBatch { sync_state: Some(state.clone()), ..StoreBatch::default() }).expect("commit");
        assert_eq!(store.sync_state().expect("sync state"), state);
        create(&mut store, RecordKind::Activity, 30 + i as u32);
        assert_eq!(store.sync_state().expect("sync state"), state, "a batch without a sync state keeps it");
    }
}

/// Writing a record again replaces its document and projection; the last write of an id in a
/// batch wins; other records are untouched.
pub fn records_upsert_replaces_doc_and_view<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 10);
    let b = create(&mut store, RecordKind::GbvReferral, 10);
    let b_view = list(&store).into_iter().find(|v| v.id == b).expect("b listed");
    let mut record = Record::load(&store.load_record(a).expect("load").expect("a stored"), Some(editor())).expect("a");
    let before = record.view();

    record.edit(&[Edit::Location("Nhà văn hóa thôn Bắc".into())], NOW + 100).expect("edit");
    let middle = StoredRecord { id: a, doc: record.save(), view: record.view() };
    record.submit(today(), NOW + 200).expect("submit");
    let last = StoredRecord { id: a, doc: record.save(), view: record.view() };
    assert_ne!(middle.view, last.view);
    store.commit(StoreBatch { records: vec![middle, last.clone()], ..StoreBatch::default() }).expect("commit");

    assert_eq!(store.load_record(a).expect("load"), Some(last.doc));
    let views = list(&store);
    assert_eq!(views.len(), 2, "replaced, not added");
    let a_view = views.iter().find(|v| v.id == a).expect("a listed");
    assert_eq!(a_view, &last.view);
    assert_ne!(a_view, &before);
    assert_eq!(a_view.review_state, ReviewState::Submitted);
    assert_eq!(a_view.location.as_deref(), Some("Nhà văn hóa thôn Bắc"));
    assert_eq!(views.iter().find(|v| v.id == b), Some(&b_view), "the other record is untouched");
}

/// `wipe_sensitive` removes GBV referrals with their outbox entries and refused changes, and
/// keeps activities with theirs.
pub fn wipe_sensitive_removes_gbv_records_and_their_changes<S: DeviceStore>(mut store: S) {
    let a1 = create(&mut store, RecordKind::Activity, 11);
    let a2 = create(&mut store, RecordKind::Activity, 12);
    let g1 = create(&mut store, RecordKind::GbvReferral, 11);
    let g2 = create(&mut store, RecordKind::GbvReferral, 12);
    let activities: Vec<RecordView> = list(&store).into_iter().filter(|v| v.kind == RecordKind::Activity).collect();
    let mut all = outbox(&store); // a1, a2, g1, g2
    all.extend(append(&mut store, &[(g1, vec![1; 11]), (a1, vec![2; 12])])); // g1b, a1b
    store
        .commit(StoreBatch {
            outbox_reject: vec![(g1, "forbidden".into(), "g".into()), (a2, "forbidden".into(), "a".into())],
            outbox_ack_through: Some(all[2].seq),
            ..StoreBatch::default()
        })
        .expect("commit");
    assert_eq!(
        rejected(&store),
        vec![
            refused(&all[2], "forbidden", "g"),
            refused(&all[4], "forbidden", "g"),
            refused(&all[1], "forbidden", "a")
        ]
    );
    assert_eq!(outbox(&store), vec![all[3].clone(), all[5].clone()]);

    store.wipe_sensitive().expect("wipe");
    assert_eq!(list(&store), activities, "activities stay");
    for g in [g1, g2] {
        assert_eq!(store.load_record(g).expect("load"), None, "GBV referral {g} is gone");
    }
    assert_eq!(outbox(&store), vec![all[5].clone()], "only the activity's unsent change stays");
    assert_eq!(rejected(&store), vec![refused(&all[1], "forbidden", "a")], "only the activity's refusal stays");
    store.wipe_sensitive().expect("wipe again");
    assert_eq!(list(&store), activities, "wiping again is harmless");
}

/// A [`Device`] over the store: create, edit, submit, delete, view, list, pending, then a sync
/// answer that acknowledges everything and brings a record from another phone.
pub fn device_round_trips_over_the_store<S: DeviceStore>(store: S) {
    let mut device = Device::new(identity(), store);
    assert!(device.needs_provisioning().expect("state"));
    assert_eq!(device.pending().expect("pending"), 0);
    assert!(device.list().expect("list").is_empty());

    let a = device.create(RecordKind::Activity, &sample::activity(20, YEAR), NOW).expect("create activity");
    let g = device.create(RecordKind::GbvReferral, &sample::gbv_referral(20, YEAR), NOW + 1).expect("create GBV");
    assert_eq!(device.pending().expect("pending"), 2);
    let place = "Sân đình thôn Bắc";
    assert!(device.edit(a, &[Edit::Location(place.into())], NOW + 2).expect("edit"));
    assert!(!device.edit(a, &[Edit::Location(place.into())], NOW + 3).expect("edit"), "nothing changed");
    assert_eq!(device.pending().expect("pending"), 3, "an edit that changes nothing writes nothing");
    device.submit(g, today(), NOW + 4).expect("submit");
    device.delete(a, NOW + 5).expect("delete");
    assert_eq!(device.pending().expect("pending"), 5);

    let (va, vg) = (device.view(a).expect("view"), device.view(g).expect("view"));
    assert_eq!((va.location.as_deref(), va.deleted), (Some(place), true));
    assert_eq!((vg.kind, vg.review_state), (RecordKind::GbvReferral, ReviewState::Submitted));
    let mut expected = vec![va, vg];
    expected.sort_by_key(|v| v.id);
    assert_eq!(list(device.store()), expected, "the stored projections are the documents' views");

    let request = device.prepare_sync(usize::MAX).expect("prepare");
    assert!(request.fresh);
    assert_eq!(request.push.len(), 2, "grouped by record");
    assert_eq!(request.push.iter().map(|p| p.changes.len()).sum::<usize>(), 5);
    assert_eq!(request.outbox_through, outbox(device.store()).last().expect("entries").seq);

    let other = Editor { device: DeviceId(Uuid::from_u128(0x6111)), user: UserId(Uuid::from_u128(0x6222)) };
    let foreign_id = id(0x0190_0000_0000_7000_8000_0000_0000_0f0f);
    let who = identity();
    let (mut foreign, _) = Record::create(
        RecordKind::Activity,
        foreign_id,
        who.commune,
        VillageId(Uuid::from_u128(0x6333)),
        other,
        &sample::activity(21, YEAR),
        NOW,
    )
    .expect("foreign record");
    let response = SyncResponse {
        acked_through: request.outbox_through,
        snapshots: vec![RecordSnapshot { record: foreign_id.as_bytes().to_vec(), doc: foreign.save() }],
        cursor: 10,
        ..SyncResponse::default()
    };
    let progress = device.apply_sync(&request, response).expect("apply");
    assert_eq!((progress.acked, progress.records_received, progress.rejected), (5, 1, 0));
    assert_eq!(device.pending().expect("pending"), 0);
    assert!(!device.needs_provisioning().expect("state"));
    assert_eq!(device.view(foreign_id).expect("received"), foreign.view());

    let store = device.into_store();
    assert_eq!(
        store.sync_state().expect("sync state"),
        SyncState { cursor: 10, snapshot: None, provisioned: true, epoch: None }
    );
    assert_eq!(list(&store).len(), 3);
    assert!(outbox(&store).is_empty() && rejected(&store).is_empty());
}

/// Sequence numbers keep increasing after everything has been acknowledged.
pub fn seq_keeps_increasing_after_a_full_ack<S: DeviceStore>(mut store: S) {
    let a = id(0xa);
    let mut last = 0;
    for round in 0..3u8 {
        let added = append(&mut store, &[(a, vec![round; 8]), (a, vec![round; 9])]);
        assert!(added[0].seq > last, "round {round}: {} after {last}", added[0].seq);
        last = added[1].seq;
        ack(&mut store, last);
        assert!(outbox(&store).is_empty());
    }
}

/// `records_remove` drops records (document and projection) after the batch's writes, so a
/// record written and removed in one batch is gone; the outbox is untouched.
pub fn records_remove_drops_records_after_the_writes<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 40);
    let b = create(&mut store, RecordKind::GbvReferral, 40);
    let before = outbox(&store);
    let (c, _) = sample_record(RecordKind::Activity, 41);
    let c_id = c.id;
    store
        .commit(StoreBatch { records: vec![c], records_remove: vec![a, c_id], ..StoreBatch::default() })
        .expect("commit");
    assert_eq!(list(&store).iter().map(|v| v.id).collect::<Vec<_>>(), vec![b]);
    for gone in [a, c_id] {
        assert_eq!(store.load_record(gone).expect("load"), None);
    }
    assert_eq!(outbox(&store), before, "removing records leaves the outbox alone");
    store.commit(StoreBatch { records_remove: vec![a], ..StoreBatch::default() }).expect("removing again is harmless");
}

/// `rejected_remove` forgets refused changes by their sequence numbers, and only those; unknown
/// numbers are ignored.
pub fn rejected_remove_forgets_refused_changes_by_seq<S: DeviceStore>(mut store: S) {
    let a = create(&mut store, RecordKind::Activity, 42);
    let b = create(&mut store, RecordKind::Activity, 43);
    let all = outbox(&store);
    store
        .commit(StoreBatch {
            outbox_reject: vec![(a, "forbidden".into(), "a".into()), (b, "forbidden".into(), "b".into())],
            outbox_ack_through: Some(all[1].seq),
            ..StoreBatch::default()
        })
        .expect("commit");
    assert_eq!(rejected(&store).len(), 2);
    store
        .commit(StoreBatch { rejected_remove: vec![all[0].seq, all[1].seq + 100], ..StoreBatch::default() })
        .expect("commit");
    assert_eq!(rejected(&store), vec![refused(&all[1], "forbidden", "b")]);
}

/// The sync answer to `request` acknowledging it and refusing `record`, as the server sends it.
fn refusal(request: &crate::wire::SyncRequest, record: RecordId) -> SyncResponse {
    SyncResponse {
        acked_through: request.outbox_through,
        rejected: vec![crate::wire::Rejection {
            record: record.as_bytes().to_vec(),
            code: "forbidden".into(),
            message: "your role may not change this".into(),
            reason: None,
            field: None,
        }],
        cursor: 20,
        ..SyncResponse::default()
    }
}

/// A refused edit is rolled back on the device (the record shows what the server holds), set
/// aside with every later change of that record; a new edit builds on the rolled-back record;
/// re-submitting sends what the refused change meant as one fresh change and forgets it.
pub fn a_refused_edit_is_rolled_back_and_can_be_resubmitted<S: DeviceStore>(store: S) {
    let mut device = Device::new(identity(), store);
    let a = device.create(RecordKind::Activity, &sample::activity(50, YEAR), NOW).expect("create");
    let request = device.prepare_sync(usize::MAX).expect("prepare");
    let response = SyncResponse { acked_through: request.outbox_through, cursor: 1, ..SyncResponse::default() };
    device.apply_sync(&request, response).expect("apply");
    let synced = device.view(a).expect("view");
    let on_server = device.store().load_record(a).expect("load").expect("stored");

    device.edit(a, &[Edit::AttendanceFemale(77), Edit::Location("Sân kho".into())], NOW + 1).expect("edit");
    let request = device.prepare_sync(usize::MAX).expect("prepare");
    device.edit(a, &[Edit::AttendanceMale(66)], NOW + 2).expect("an edit made while the sync was under way");
    let progress = device.apply_sync(&request, refusal(&request, a)).expect("apply");
    assert_eq!((progress.acked, progress.rejected), (1, 2), "{progress:?}");
    assert_eq!(device.pending().expect("pending"), 0, "the later edit was built on the refused one");
    let refused_changes = device.rejected().expect("refused");
    assert_eq!(refused_changes.len(), 2);
    assert_eq!(device.view(a).expect("view"), synced, "rolled back to what the server holds");

    device.edit(a, &[Edit::AttendanceEthnicMinority(Some(5))], NOW + 3).expect("edit after the refusal");
    let request = device.prepare_sync(usize::MAX).expect("prepare");
    let mut on_server = Record::load(&on_server, None).expect("a");
    on_server.apply_changes(&request.push[0].changes.iter().map(|c| c.0.clone()).collect::<Vec<_>>()).expect("apply");
    assert!(on_server.missing_deps().is_empty(), "a new edit depends only on what the server has");

    let first = refused_changes[0].entry.seq;
    assert!(matches!(device.resubmit(first + 1000, NOW + 4), Err(crate::device::DeviceError::NoSuchRefusal(_))));
    assert_eq!(device.resubmit(first, NOW + 4).expect("resubmit"), a);
    let view = device.view(a).expect("view");
    assert_eq!(view.attendance_female, Some(77), "the refused values are back, as a new edit");
    assert_eq!(view.location.as_deref(), Some("Sân kho"));
    assert_eq!(view.attendance_male, synced.attendance_male, "the later refused change was not re-submitted");
    assert_eq!(view.attendance_ethnic_minority, Some(5), "the edit made since is kept");
    assert_eq!(device.rejected().expect("refused").len(), 1, "the re-submitted change is forgotten");
    assert_eq!(device.pending().expect("pending"), 2);
    let second = refused_changes[1].entry.seq;
    assert!(device.discard_rejected(second).expect("discard"));
    assert!(!device.discard_rejected(second).expect("discard again"), "already gone");
    assert!(device.rejected().expect("refused").is_empty());
}

/// A refused creation leaves no record on the device (the server never stored it); re-submitting
/// it makes a new record with the same values in the device's village.
pub fn a_refused_creation_is_removed_and_can_be_resubmitted_as_a_new_record<S: DeviceStore>(store: S) {
    let mut device = Device::new(identity(), store);
    let g = device.create(RecordKind::GbvReferral, &sample::gbv_referral(51, YEAR), NOW).expect("create");
    let wanted = device.view(g).expect("view");
    device.edit(g, &[Edit::Notes("đã gọi điện".into())], NOW + 1).expect("edit");
    let request = device.prepare_sync(usize::MAX).expect("prepare");
    let progress = device.apply_sync(&request, refusal(&request, g)).expect("apply");
    assert_eq!(progress.rejected, 2);
    assert!(device.view(g).is_err(), "a record the server never stored is not shown");
    assert!(device.list().expect("list").is_empty());
    let refused_changes = device.rejected().expect("refused");
    let new = device.resubmit(refused_changes[1].entry.seq, NOW + 2).expect("resubmit");
    assert_ne!(new, g, "a new record");
    let view = device.view(new).expect("view");
    assert_eq!(view.notes, "đã gọi điện");
    assert_eq!(
        (view.kind, view.case_code.clone(), view.violence_types.clone(), view.referred_to.clone()),
        (wanted.kind, wanted.case_code.clone(), wanted.violence_types.clone(), wanted.referred_to.clone())
    );
    assert!(device.rejected().expect("refused").is_empty());
    assert_eq!(device.pending().expect("pending"), 1, "one creation carries every value");
}

/// An answer carrying another log epoch than the one stored (the server's database was restored
/// from a backup): nothing of it is applied, every change this device made is queued again, and
/// the sync position starts over with the new epoch, so the next sync provisions again.
pub fn a_new_log_epoch_queues_the_devices_own_changes_and_starts_over<S: DeviceStore>(store: S) {
    let mut device = Device::new(identity(), store);
    let a = device.create(RecordKind::Activity, &sample::activity(60, YEAR), NOW).expect("create");
    let request = device.prepare_sync(usize::MAX).expect("prepare");
    assert_eq!(request.epoch, None, "no epoch known yet");
    let first = SyncResponse {
        acked_through: request.outbox_through,
        cursor: 5,
        epoch: Some(vec![1; 16]),
        ..SyncResponse::default()
    };
    device.apply_sync(&request, first).expect("apply");
    assert_eq!(device.pending().expect("pending"), 0);
    device.edit(a, &[Edit::AttendanceMale(61)], NOW + 1).expect("edit");
    let view = device.view(a).expect("view");

    let request = device.prepare_sync(usize::MAX).expect("prepare");
    assert_eq!(request.epoch, Some(vec![1; 16]), "the known epoch goes with every request");
    let restored = SyncResponse {
        acked_through: request.outbox_through,
        cursor: 99,
        epoch: Some(vec![2; 16]),
        ..SyncResponse::default()
    };
    let progress = device.apply_sync(&request, restored).expect("apply");
    assert!(progress.more && progress.restored == 2, "{progress:?}");
    assert_eq!(progress.acked, 0, "nothing of that answer is applied");
    assert_eq!(device.pending().expect("pending"), 3, "the unsent edit, and both own changes again");
    assert_eq!(
        device.store().sync_state().expect("state"),
        SyncState { epoch: Some(vec![2; 16]), ..SyncState::default() }
    );
    assert!(device.needs_provisioning().expect("state"));
    assert_eq!(device.view(a).expect("view"), view, "the record is kept as it was");
    let next = device.prepare_sync(usize::MAX).expect("prepare");
    assert!(next.fresh && next.cursor == 0 && next.epoch == Some(vec![2; 16]));
}

#[cfg(test)]
mod tests {
    crate::store_conformance!(crate::device::MemoryStore::default());
}
