//! Tests of the SQLite store beyond the conformance suite: reopening, schema versions, screen
//! queries, counts, settings, refused changes by id and wiping.

use super::*;
use sotay_sync_core::device::{Device, DeviceIdentity};
use sotay_sync_core::record::Editor;
use sotay_sync_core::{CommuneId, Date, DeviceId, Edit, GeoPoint, Record, ReviewState, UserId, VillageId, sample};
use uuid::Uuid;

const NOW: i64 = 1_780_000_000_000;

fn identity() -> DeviceIdentity {
    DeviceIdentity {
        device: DeviceId(Uuid::from_u128(0x71)),
        user: UserId(Uuid::from_u128(0x72)),
        commune: CommuneId(Uuid::from_u128(0x73)),
        village: VillageId(Uuid::from_u128(0x74)),
    }
}

/// The app's key in these tests (the same one on every reopening).
fn key() -> PhoneKey {
    PhoneKey::from_bytes([0x24; 32])
}

fn today() -> Date {
    Date::new(2026, 12, 31).unwrap()
}

fn day(y: u16, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap()
}

/// Creates an activity held on `held_on` (sample content otherwise); returns its id.
fn activity_on(device: &mut Device<SqliteStore>, i: u32, held_on: Date) -> RecordId {
    let mut edits = sample::activity(i, 2026);
    edits.push(Edit::HeldOn(held_on));
    device.create(RecordKind::Activity, &edits, NOW + i64::from(i)).unwrap()
}

fn gbv_on(device: &mut Device<SqliteStore>, i: u32, reported_on: Date) -> RecordId {
    let mut edits = sample::gbv_referral(i, 2026);
    edits.push(Edit::ReportedOn(reported_on));
    device.create(RecordKind::GbvReferral, &edits, NOW + i64::from(i)).unwrap()
}

fn ids(views: &[RecordView]) -> Vec<RecordId> {
    views.iter().map(|v| v.id).collect()
}

/// Refuses every outbox entry of `record` (as a sync answer would).
fn refuse(store: &mut SqliteStore, record: RecordId) {
    let through = store.outbox(usize::MAX).unwrap().last().unwrap().seq;
    store
        .commit(StoreBatch {
            outbox_reject: vec![(record, "forbidden".into(), "not yours".into())],
            outbox_ack_through: Some(through),
            ..StoreBatch::default()
        })
        .unwrap();
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key())).unwrap());
    let a = activity_on(&mut device, 1, day(2026, 3, 1));
    let g = gbv_on(&mut device, 2, day(2026, 3, 2));
    device.store_mut().commit(StoreBatch { outbox_ack_through: Some(1), ..StoreBatch::default() }).unwrap();
    refuse(device.store_mut(), g);
    let b = activity_on(&mut device, 3, day(2026, 3, 3));
    let state = SyncState {
        cursor: 77,
        snapshot: Some(sotay_sync_core::wire::SnapshotCursor { upto: 80, after: Some(a.as_bytes().to_vec()) }),
        provisioned: false,
        epoch: Some(vec![9; 16]),
    };
    device.store_mut().commit(StoreBatch { sync_state: Some(state.clone()), ..StoreBatch::default() }).unwrap();
    device.store_mut().set_meta("credential", b"secret").unwrap();
    let mut store = device.into_store();
    let (views, outbox, rejected, counts) =
        (store.list_records().unwrap(), store.outbox(usize::MAX).unwrap(), store.rejected().unwrap(), store.counts());
    let recent = store.recently_changed(10).unwrap();
    let doc = store.load_record(b).unwrap();
    assert_eq!((views.len(), outbox.len(), rejected.len()), (3, 1, 1));
    let last_seq = outbox[0].seq;
    store.set_meta("x", b"y").unwrap();
    drop(store);

    let mut store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::known_version());
    assert_eq!(store.list_records().unwrap(), views);
    assert_eq!(store.outbox(usize::MAX).unwrap(), outbox);
    assert_eq!(store.rejected().unwrap(), rejected);
    assert_eq!(store.sync_state().unwrap(), state);
    assert_eq!(store.counts().unwrap(), counts.unwrap());
    assert_eq!(store.recently_changed(10).unwrap(), recent);
    assert_eq!(store.load_record(b).unwrap(), doc);
    assert_eq!(store.get_meta("credential").unwrap().as_deref(), Some(&b"secret"[..]));

    // Sequence numbers and the "recently changed" order go on from where they were.
    store.commit(StoreBatch { outbox_append: vec![(a, vec![1, 2, 3])], ..StoreBatch::default() }).unwrap();
    assert!(store.outbox(usize::MAX).unwrap()[1].seq > last_seq);
    let mut device = Device::new(identity(), store);
    device.edit(a, &[Edit::Location("Chợ xã".into())], NOW + 50).unwrap();
    assert_eq!(device.store().recently_changed(1).unwrap()[0].id, a);
}

#[test]
fn a_database_from_a_newer_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    drop(SqliteStore::open(&path, Some(&key())).unwrap());
    let known = schema::known_version();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", known + 1).unwrap();
    drop(conn);
    match SqliteStore::open(&path, Some(&key())) {
        Err(StoreError::TooNew { found, known: k }) => {
            assert_eq!((found, k), (known + 1, known));
            let message = StoreError::TooNew { found, known: k }.to_string();
            assert!(message.contains("update the app"), "{message}");
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn migrations_run_once_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len() as u32);
    store.set_meta("k", b"v").unwrap();
    drop(store);
    let store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert_eq!(store.get_meta("k").unwrap(), Some(b"v".to_vec()), "reopening migrates nothing again");
    let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
}

#[test]
fn query_filters_pages_and_orders() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let a1 = activity_on(&mut device, 1, day(2026, 1, 10));
    let a2 = activity_on(&mut device, 2, day(2026, 2, 10));
    let a3 = activity_on(&mut device, 3, day(2026, 2, 10)); // same day as a2: id breaks the tie
    let a4 = activity_on(&mut device, 4, day(2026, 3, 5));
    let g1 = gbv_on(&mut device, 1, day(2026, 2, 20));
    let g2 = gbv_on(&mut device, 2, day(2026, 1, 1));
    device.submit(a2, today(), NOW + 100).unwrap();
    device.submit(g1, today(), NOW + 101).unwrap();
    device.delete(a4, NOW + 102).unwrap();
    let store = device.store();
    let q = |q: RecordQuery| ids(&store.query(&q).unwrap());

    assert!(a3 > a2, "ids are UUIDv7 in creation order");
    assert_eq!(q(RecordQuery::default()), vec![g1, a3, a2, a1, g2], "day DESC, id DESC, deleted left out");
    assert_eq!(q(RecordQuery { include_deleted: true, ..Default::default() }), vec![a4, g1, a3, a2, a1, g2]);
    assert_eq!(q(RecordQuery { kind: Some(RecordKind::Activity), ..Default::default() }), vec![a3, a2, a1]);
    assert_eq!(q(RecordQuery { kind: Some(RecordKind::GbvReferral), ..Default::default() }), vec![g1, g2]);
    assert_eq!(q(RecordQuery { review_state: Some(ReviewState::Submitted), ..Default::default() }), vec![g1, a2]);
    assert_eq!(q(RecordQuery { review_state: Some(ReviewState::Draft), ..Default::default() }), vec![a3, a1, g2]);
    let feb = RecordQuery { from: Some(day(2026, 2, 10)), to: Some(day(2026, 2, 20)), ..Default::default() };
    assert_eq!(q(feb.clone()), vec![g1, a3, a2], "date bounds are inclusive");
    assert_eq!(q(RecordQuery { kind: Some(RecordKind::Activity), ..feb }), vec![a3, a2]);
    assert_eq!(q(RecordQuery { from: Some(day(2026, 2, 11)), ..Default::default() }), vec![g1]);
    assert_eq!(q(RecordQuery { to: Some(day(2026, 1, 10)), ..Default::default() }), vec![a1, g2]);
    assert_eq!(q(RecordQuery { limit: 2, ..Default::default() }), vec![g1, a3]);
    assert_eq!(q(RecordQuery { limit: 2, offset: 2, ..Default::default() }), vec![a2, a1]);
    assert_eq!(q(RecordQuery { limit: 2, offset: 4, ..Default::default() }), vec![g2]);
    assert!(q(RecordQuery { offset: 9, ..Default::default() }).is_empty());
    assert!(q(RecordQuery { conflicted_only: true, ..Default::default() }).is_empty());
    assert_eq!(RecordQuery::default().limit, 50);

    // The views come back whole, as the documents give them.
    let views = store.query(&RecordQuery { kind: Some(RecordKind::GbvReferral), ..Default::default() }).unwrap();
    assert_eq!(views[0], device.view(g1).unwrap());
}

#[test]
fn undated_records_come_last_and_fall_outside_date_bounds() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let undated = device.create(RecordKind::Activity, &[Edit::Unit("vhxh".into())], NOW).unwrap();
    let dated = activity_on(&mut device, 1, day(2026, 1, 1));
    let store = device.store();
    assert_eq!(ids(&store.query(&RecordQuery::default()).unwrap()), vec![dated, undated]);
    let bounded = RecordQuery { from: Some(day(2000, 1, 1)), ..Default::default() };
    assert_eq!(ids(&store.query(&bounded).unwrap()), vec![dated]);
}

#[test]
fn conflicted_records_are_counted_and_found() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let a = activity_on(&mut device, 1, day(2026, 4, 1));
    activity_on(&mut device, 2, day(2026, 4, 2));
    // Another phone sets the location concurrently: a conflict.
    let other = Editor { device: DeviceId(Uuid::from_u128(0x81)), user: UserId(Uuid::from_u128(0x82)) };
    let mut theirs = Record::load(&device.store().load_record(a).unwrap().unwrap(), Some(other)).unwrap();
    let change = theirs.edit(&[Edit::Location("Chợ xã 9".into())], NOW + 10).unwrap().unwrap();
    device.edit(a, &[Edit::Location("Hội trường UBND xã 9".into())], NOW + 11).unwrap();
    let mut mine = device.load(a).unwrap();
    mine.apply_changes(&[change]).unwrap();
    let view = mine.view();
    assert!(!view.conflicts.is_empty(), "a concurrent edit makes a conflict");
    device
        .store_mut()
        .commit(StoreBatch {
            records: vec![StoredRecord { id: a, doc: mine.save(), view: view.clone() }],
            ..StoreBatch::default()
        })
        .unwrap();
    let store = device.store();
    let found = store.query(&RecordQuery { conflicted_only: true, ..Default::default() }).unwrap();
    assert_eq!(found, vec![view]);
    assert_eq!(store.counts().unwrap().conflicted, 1);
}

#[test]
fn counts_cover_the_home_screen() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    assert_eq!(device.store().counts().unwrap(), HomeCounts::default());
    let a1 = activity_on(&mut device, 1, day(2026, 5, 1));
    let a2 = activity_on(&mut device, 2, day(2026, 5, 2));
    let a3 = activity_on(&mut device, 3, day(2026, 5, 3));
    let g1 = gbv_on(&mut device, 1, day(2026, 5, 4));
    let g2 = gbv_on(&mut device, 2, day(2026, 5, 5));
    device.submit(a1, today(), NOW + 10).unwrap();
    device.submit(g1, today(), NOW + 11).unwrap();
    device.delete(a3, NOW + 12).unwrap();
    // A reviewer on this phone returns one and approves another.
    device.submit(a2, today(), NOW + 13).unwrap();
    device.return_to_author(a2, "thiếu số liệu", NOW + 14).unwrap();
    device.approve(g1, NOW + 15).unwrap();
    refuse(device.store_mut(), g2);
    let c = device.store().counts().unwrap();
    assert_eq!(
        c,
        HomeCounts {
            records: 4,
            activities: 2,
            gbv_referrals: 2,
            drafts: 1,
            submitted: 1,
            returned: 1,
            approved: 1,
            conflicted: 0,
            unsent_changes: 0,
            refused_changes: 1,
        }
    );
    device.edit(a1, &[Edit::Location("Chợ xã 2".into())], NOW + 20).unwrap();
    assert_eq!(device.store().counts().unwrap().unsent_changes, 1);
}

#[test]
fn meta_round_trips() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.get_meta("credential").unwrap(), None);
    store.set_meta("credential", b"one").unwrap();
    store.set_meta("last_sync_ms", &7i64.to_le_bytes()).unwrap();
    store.set_meta("credential", b"two").unwrap();
    assert_eq!(store.get_meta("credential").unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.get_meta("last_sync_ms").unwrap(), Some(7i64.to_le_bytes().to_vec()));
    store.set_meta("empty", b"").unwrap();
    assert_eq!(store.get_meta("empty").unwrap(), Some(Vec::new()));
    store.delete_meta("credential").unwrap();
    store.delete_meta("never set").unwrap();
    assert_eq!(store.get_meta("credential").unwrap(), None);
    assert_eq!(store.sync_state().unwrap(), SyncState::default(), "settings are not the sync state");
}

#[test]
fn refused_changes_are_listed_and_discarded_by_seq() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let a = activity_on(&mut device, 1, day(2026, 6, 1));
    device.edit(a, &[Edit::Location("Chợ xã 3".into())], NOW + 1).unwrap();
    let sent = device.store().outbox(usize::MAX).unwrap();
    refuse(device.store_mut(), a);
    let listed = device.rejected().unwrap();
    assert_eq!(listed.iter().map(|r| r.entry.clone()).collect::<Vec<_>>(), sent);
    assert!(device.discard_rejected(listed[0].entry.seq).unwrap());
    assert!(!device.discard_rejected(listed[0].entry.seq).unwrap(), "already gone");
    assert_eq!(device.rejected().unwrap(), listed[1..].to_vec());
    assert_eq!(device.store().counts().unwrap().refused_changes, 1);
}

#[test]
fn wipe_all_leaves_nothing_and_seq_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key())).unwrap());
    let a = activity_on(&mut device, 1, day(2026, 7, 1));
    let g = gbv_on(&mut device, 2, day(2026, 7, 2));
    refuse(device.store_mut(), g);
    device.edit(a, &[Edit::Location("Chợ xã 4".into())], NOW + 1).unwrap();
    let last = device.store().outbox(usize::MAX).unwrap().last().unwrap().seq;
    let store = device.store_mut();
    store
        .commit(StoreBatch { sync_state: Some(SyncState { cursor: 5, ..SyncState::default() }), ..Default::default() })
        .unwrap();
    store.set_meta("credential", b"secret").unwrap();

    store.wipe_all().unwrap();
    assert!(store.list_records().unwrap().is_empty());
    assert_eq!(store.load_record(a).unwrap(), None);
    assert_eq!(store.outbox_len().unwrap(), 0);
    assert!(store.rejected().unwrap().is_empty());
    assert_eq!(store.get_meta("credential").unwrap(), None);
    assert_eq!(store.sync_state().unwrap(), SyncState::default());
    assert_eq!(store.counts().unwrap(), HomeCounts::default());
    drop(device);

    let mut store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert!(store.list_records().unwrap().is_empty(), "still empty after reopening");
    store.commit(StoreBatch { outbox_append: vec![(a, vec![9])], ..StoreBatch::default() }).unwrap();
    assert!(store.outbox(usize::MAX).unwrap()[0].seq > last, "sequence numbers never go back");
}

#[test]
fn views_round_trip_exactly_with_gps_and_sets() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let a = activity_on(&mut device, 5, day(2026, 8, 1));
    for (lat, lon) in [(21.027_763, 105.834_160), (-0.000_001, 179.999_999), (10.5, -73.123_457)] {
        device.edit(a, &[Edit::Gps(Some(GeoPoint { lat, lon }))], NOW + 1).unwrap();
        let listed = device.store().list_records().unwrap();
        assert_eq!(listed, vec![device.view(a).unwrap()]);
        assert!(listed[0].gps.is_some());
    }
}

#[test]
fn an_undecodable_row_is_reported_as_corrupt() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    activity_on(&mut device, 1, day(2026, 9, 1));
    let store = device.into_store();
    store.conn.execute("UPDATE records SET view = x'00ff'", []).unwrap();
    match store.list_records() {
        Err(e @ StoreError::Corrupt(_)) => assert!(e.to_string().contains("cannot be read"), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    store.conn.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", [SYNC_STATE_KEY]).unwrap();
    assert!(matches!(store.sync_state(), Err(StoreError::Corrupt(_))));
}

#[test]
fn a_failed_batch_leaves_nothing() {
    let mut device = Device::new(identity(), SqliteStore::open_in_memory().unwrap());
    let a = activity_on(&mut device, 1, day(2026, 10, 1));
    let store = device.store_mut();
    let before = (store.list_records().unwrap(), store.outbox(usize::MAX).unwrap());
    // Make the outbox insert fail half-way through a batch that also writes a record.
    store
        .conn
        .execute_batch(
            "CREATE TEMP TRIGGER refuse AFTER INSERT ON outbox WHEN NEW.change = x'dead'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let mut record = Record::load(&store.load_record(a).unwrap().unwrap(), None).unwrap();
    let (doc, mut view) = (record.save(), record.view());
    view.notes = "changed".into();
    let batch = StoreBatch {
        records: vec![StoredRecord { id: a, doc, view }],
        outbox_append: vec![(a, vec![1]), (a, vec![0xde, 0xad])],
        sync_state: Some(SyncState { cursor: 9, ..SyncState::default() }),
        ..StoreBatch::default()
    };
    assert!(matches!(store.commit(batch), Err(StoreError::Sqlite(_))));
    assert_eq!((store.list_records().unwrap(), store.outbox(usize::MAX).unwrap()), before);
    assert_eq!(store.sync_state().unwrap(), SyncState::default());
    // And the store still works.
    store.commit(StoreBatch { outbox_append: vec![(a, vec![2])], ..StoreBatch::default() }).unwrap();
}

#[test]
fn two_connections_to_one_file_share_one_store() {
    // The mobile bindings keep a reader beside the session's store.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key())).unwrap());
    let reader = SqliteStore::open(&path, Some(&key())).unwrap();
    let a = activity_on(&mut device, 1, day(2026, 11, 1));
    assert_eq!(ids(&reader.query(&RecordQuery::default()).unwrap()), vec![a]);
    let mut other = SqliteStore::open(&path, Some(&key())).unwrap();
    let mut record = Record::load(&other.load_record(a).unwrap().unwrap(), None).unwrap();
    other
        .commit(StoreBatch {
            records: vec![StoredRecord { id: a, doc: record.save(), view: record.view() }],
            ..StoreBatch::default()
        })
        .unwrap();
    let b = activity_on(&mut device, 2, day(2026, 11, 2));
    assert_eq!(ids(&reader.recently_changed(5).unwrap()), vec![b, a], "one counter across connections");
    assert_eq!(reader.counts().unwrap().unsent_changes, 2);
}

#[test]
fn referrals_stored_in_plain_by_an_older_app_are_sealed_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key())).unwrap());
    let g = gbv_on(&mut device, 1, day(2026, 8, 1));
    let a = activity_on(&mut device, 2, day(2026, 8, 2));
    let doc = device.store().load_record(g).unwrap().unwrap();
    let view = serde_json::to_vec(&device.view(g).unwrap()).unwrap();
    let change = device.store().outbox(usize::MAX).unwrap()[0].change.clone();
    // What schema version 1 wrote: the referral in plain.
    let store = device.into_store();
    store
        .conn
        .execute("UPDATE records SET doc = ?2, view = ?3, sealed = 0 WHERE id = ?1", params![g.as_bytes(), doc, view])
        .unwrap();
    store
        .conn
        .execute("UPDATE outbox SET change = ?1, sealed = 0 WHERE record = ?2", params![change, g.as_bytes()])
        .unwrap();
    store.conn.execute("DELETE FROM meta WHERE key = ?1", [SEALED_ALL]).unwrap();
    drop(store);

    let store = SqliteStore::open(&path, Some(&key())).unwrap();
    let sealed: i64 = store.conn.query_row("SELECT sum(sealed) FROM records", [], |r| r.get(0)).unwrap();
    let sealed_out: i64 = store.conn.query_row("SELECT sum(sealed) FROM outbox", [], |r| r.get(0)).unwrap();
    assert_eq!((sealed, sealed_out), (1, 1), "the referral and its unsent change, not the activity");
    assert_eq!(store.load_record(g).unwrap(), Some(doc), "and still readable with the key");
    assert_eq!(store.outbox(usize::MAX).unwrap()[0].change, change);
    assert!(store.load_record(a).unwrap().is_some());
}

#[test]
fn a_second_connection_reads_referrals_again_after_the_first_wiped_and_replaced_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotay.db");
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key())).unwrap());
    let mut reader = SqliteStore::open(&path, Some(&key())).unwrap();
    gbv_on(&mut device, 1, day(2026, 9, 1));
    device.wipe_sensitive().unwrap();
    let g = gbv_on(&mut device, 2, day(2026, 9, 2));
    assert!(reader.load_record(g).is_err(), "the reader still holds the destroyed key");
    reader.refresh_data_key().unwrap();
    assert!(reader.load_record(g).unwrap().is_some());
    reader.lock_gbv();
    reader.refresh_data_key().unwrap();
    assert_eq!(reader.gbv_lock(), Some(GbvLock::Stale), "a refresh does not lift the stale-phone lock");
}
