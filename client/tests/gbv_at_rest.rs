//! GBV referrals at rest on the phone: what a lost phone's file reveals (nothing of a case), a
//! store opened with the wrong key or none, the wipe as key destruction, and the stale-phone lock.
//! Each test reads the database file and its write-ahead log byte for byte, as a thief would.

use sotay_client::store::{GbvLock, PhoneKey, RecordQuery, SqliteStore, StoreError};
use sotay_sync_core::device::{Device, DeviceIdentity, DeviceStore, StoreBatch};
use sotay_sync_core::{CommuneId, DeviceId, Edit, RecordId, RecordKind, UserId, VillageId, sample};
use std::path::{Path, PathBuf};
use uuid::Uuid;

const NOW: i64 = 1_780_000_000_000;

fn identity() -> DeviceIdentity {
    DeviceIdentity {
        device: DeviceId(Uuid::from_u128(0x91)),
        user: UserId(Uuid::from_u128(0x92)),
        commune: CommuneId(Uuid::from_u128(0x93)),
        village: VillageId(Uuid::from_u128(0x94)),
    }
}

fn key() -> PhoneKey {
    PhoneKey::from_bytes([0x5a; 32])
}

/// Case codes and notes that must never be found in the file.
fn planted(i: u32) -> (String, String) {
    (format!("TY-PLANTED-{i:04}"), format!("Bà PLANTED{i} bị chồng đánh, đã gọi công an xã"))
}

/// A phone with `n` GBV referrals carrying planted details (each edited twice, one edit refused)
/// and `n` activities whose notes are plain on purpose; returns the ids of the referrals.
fn phone_with_cases(path: &Path, n: u32) -> (Device<SqliteStore>, Vec<RecordId>) {
    let mut device = Device::new(identity(), SqliteStore::open(path, Some(&key())).unwrap());
    let mut cases = Vec::new();
    for i in 0..n {
        let (code, note) = planted(i);
        let mut edits = sample::gbv_referral(i, 2026);
        edits.push(Edit::CaseCode(code));
        let id = device.create(RecordKind::GbvReferral, &edits, NOW + i64::from(i)).unwrap();
        device.edit(id, &[Edit::Notes(note.clone())], NOW + 100).unwrap();
        device.edit(id, &[Edit::Notes(format!("{note} (sửa)"))], NOW + 200).unwrap();
        cases.push(id);
        let mut activity = sample::activity(i, 2026);
        activity.push(Edit::Notes(format!("ACTIVITY-VISIBLE-{i}")));
        device.create(RecordKind::Activity, &activity, NOW + i64::from(i)).unwrap();
    }
    // One referral's changes refused by the server: they move to the refused list, still sealed.
    let through = device.store().outbox(usize::MAX).unwrap().last().unwrap().seq;
    device
        .store_mut()
        .commit(StoreBatch {
            outbox_reject: vec![(cases[0], "forbidden".into(), "no".into())],
            outbox_ack_through: Some(through),
            ..StoreBatch::default()
        })
        .unwrap();
    (device, cases)
}

/// The database file and its write-ahead log, as bytes.
fn disk_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `text` in the byte forms a careless store could leave it in: UTF-8, UTF-16, hex.
fn forms(text: &str) -> Vec<Vec<u8>> {
    let utf16: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    vec![text.as_bytes().to_vec(), utf16, hex.into_bytes()]
}

fn assert_absent(bytes: &[u8], text: &str) {
    for form in forms(text) {
        assert!(!contains(bytes, &form), "{text:?} is on disk in some form");
    }
}

/// The sealed values in the database, read with SQLite directly.
fn sealed_values(path: &Path) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT doc FROM records WHERE sealed",
        "SELECT view FROM records WHERE sealed",
        "SELECT change FROM outbox WHERE sealed",
        "SELECT change FROM rejected WHERE sealed",
        "SELECT value FROM meta WHERE key = 'data_key'",
    ] {
        let mut st = conn.prepare(sql).unwrap();
        out.extend(st.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap().map(Result::unwrap));
    }
    out
}

#[test]
fn planted_case_details_never_reach_the_file_or_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let (device, cases) = phone_with_cases(&path, 5);
    let bytes = disk_bytes(&path);
    for i in 0..5 {
        let (code, note) = planted(i);
        assert_absent(&bytes, &code);
        assert_absent(&bytes, &note);
    }
    assert!(contains(&bytes, b"ACTIVITY-VISIBLE-3"), "activities stay plain, and the scan can see plain text");
    let sealed = sealed_values(&path);
    assert!(sealed.len() > 5 * 2, "every referral's document and projection, and the data key, are sealed");
    assert!(sealed.iter().all(|v| v.starts_with(b"S1")));

    drop(device);
    let store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert_eq!(store.gbv_lock(), None);
    let view = store.list_records().unwrap().into_iter().find(|v| v.id == cases[1]).unwrap();
    assert_eq!(view.case_code.as_deref(), Some(planted(1).0.as_str()), "readable again with the key");
    assert!(view.notes.ends_with("(sửa)"));
    assert_eq!(store.rejected().unwrap().len(), 3, "the refused referral's changes, opened");
}

#[test]
fn a_wrong_key_or_none_locks_gbv_referrals_and_leaves_activities_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let (mut device, cases) = phone_with_cases(&path, 3);
    // Unsent: an edit of a referral (sealed), then a new activity behind it.
    device.edit(cases[1], &[Edit::Notes("chưa gửi".into())], NOW + 300).unwrap();
    device.create(RecordKind::Activity, &sample::activity(40, 2026), NOW + 300).unwrap();
    assert_eq!(device.store().outbox_len().unwrap(), 2);
    drop(device);

    let locks = [(Some(PhoneKey::from_bytes([1; 32])), GbvLock::WrongKey), (None, GbvLock::NoKey)];
    // Each round adds an activity: (activities listed, entries unsent) at its start.
    for ((activities, unsent), (key, lock)) in [(4, 2), (5, 3)].into_iter().zip(locks) {
        let mut device = Device::new(identity(), SqliteStore::open(&path, key.as_ref()).unwrap());
        let store = device.store();
        assert_eq!(store.gbv_lock(), Some(lock));
        let listed = store.list_records().unwrap();
        assert_eq!(listed.len(), activities, "the activities");
        assert!(listed.iter().all(|v| v.kind == RecordKind::Activity));
        let page = store.query(&RecordQuery { limit: 2, ..RecordQuery::default() }).unwrap();
        assert_eq!(page.len(), 2, "pages stay full: locked rows are left out in the query");
        let err = store.load_record(cases[1]).unwrap_err();
        assert!(matches!(err, StoreError::Locked(l) if l == lock), "{err}");
        assert!(err.to_string().starts_with("the GBV referrals on this phone are locked"), "{err}");
        assert!(store.rejected().unwrap().is_empty(), "the refused referral's changes are locked too");
        assert_eq!(store.counts().unwrap().gbv_referrals, 3, "counted, not shown");
        // The outbox stops before the first sealed entry (the activity behind it waits): what is
        // sent is a prefix, so an acknowledgement never covers an entry that was not sent.
        assert!(store.outbox(usize::MAX).unwrap().is_empty());
        assert_eq!(store.outbox_len().unwrap(), unsent, "counted, not sent");

        let a = device.create(RecordKind::Activity, &sample::activity(50, 2026), NOW).unwrap();
        assert!(device.view(a).is_ok(), "activities can still be made");
        let refused = device.create(RecordKind::GbvReferral, &sample::gbv_referral(50, 2026), NOW);
        assert!(refused.is_err(), "a referral cannot be written without the key");
        assert!(device.edit(cases[2], &[Edit::Notes("x".into())], NOW).is_err());
    }
    let store = SqliteStore::open(&path, Some(&key())).unwrap();
    assert_eq!(store.gbv_lock(), None, "the right key still opens them");
    assert_eq!(store.list_records().unwrap().iter().filter(|v| v.kind == RecordKind::GbvReferral).count(), 3);
}

#[test]
fn a_wipe_destroys_the_key_first_and_leaves_nothing_decryptable() {
    for full in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.db");
        let (mut device, cases) = phone_with_cases(&path, 4);
        let sealed = sealed_values(&path);
        if full {
            device.store_mut().wipe_all().unwrap();
        } else {
            device.wipe_sensitive().unwrap();
        }
        let bytes = disk_bytes(&path);
        for value in &sealed {
            // The 24-byte nonce after the `S1` header: without it nothing sealed can be opened.
            assert!(!contains(&bytes, &value[2..26]), "a sealed value (or the wrapped key) survived the wipe");
        }
        for i in 0..4 {
            assert_absent(&bytes, &planted(i).0);
        }
        let store = device.store();
        assert!(store.load_record(cases[0]).unwrap().is_none());
        assert_eq!(store.gbv_lock(), None, "a fresh data key for what comes next");
        assert_eq!(store.list_records().unwrap().len(), if full { 0 } else { 4 }, "activities stay on revocation");
        assert!(store.outbox(usize::MAX).unwrap().iter().all(|e| !cases.contains(&e.record)));
        assert!(store.rejected().unwrap().is_empty());
        drop(device);
        let reopened = SqliteStore::open(&path, Some(&key())).unwrap();
        assert_eq!(reopened.gbv_lock(), None);
    }
}

#[test]
fn the_stale_lock_hides_referrals_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let (mut device, cases) = phone_with_cases(&path, 2);
    device.store_mut().lock_gbv();
    assert_eq!(device.store().gbv_lock(), Some(GbvLock::Stale));
    assert!(device.view(cases[1]).is_err());
    assert_eq!(device.list().unwrap().len(), 2, "activities only");
    assert_eq!(device.store_mut().unlock_gbv().unwrap(), None);
    assert_eq!(device.view(cases[1]).unwrap().case_code.as_deref(), Some(planted(1).0.as_str()));
}

#[test]
fn a_device_secret_an_older_app_kept_in_plain_is_sealed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let secret = "bi-mat-cu-de-lo-ra-ngoai-0123456789abcdef";
    let legacy = serde_json::json!({
        "server": "https://xa.example.vn",
        "identity": identity(),
        "role": "collaborator",
        "secret": secret,
    });
    let mut store = SqliteStore::open(&path, Some(&key())).unwrap();
    store.set_meta("credential", legacy.to_string().as_bytes()).unwrap();
    drop(store);

    // Opened without its key, the old app's credential still works as it did.
    let keyless = SqliteStore::open(&path, None).unwrap();
    assert_eq!(sotay_client::session::credential(&keyless).unwrap().unwrap().secret, secret);
    drop(keyless);

    let session =
        sotay_client::Session::open(SqliteStore::open(&path, Some(&key())).unwrap(), Default::default()).unwrap();
    assert_eq!(session.credential().secret, secret);
    let public = session.device().store().get_meta("credential").unwrap().unwrap();
    assert!(!contains(&public, secret.as_bytes()), "the plain copy is overwritten");
    assert!(session.device().store().get_meta("secret.credential").unwrap().is_some(), "sealed instead");
    drop(session);
    let keyless = SqliteStore::open(&path, None).unwrap();
    assert_eq!(sotay_client::session::credential(&keyless).unwrap().unwrap().secret, "", "unreadable without the key");
}
