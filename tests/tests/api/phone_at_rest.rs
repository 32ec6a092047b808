//! The phone's GBV referrals at rest, through the real server: a phone out of touch for a month
//! locks its cases until its own user signs in again; a store opened without its key shows and
//! keeps its activities but cannot sign in (the device secret is sealed under the key too), and
//! nothing of it is lost once the key is back; the device secret is never on disk in plain form.

use sotay_client::session::now_ms;
use sotay_client::store::{GbvLock, PhoneKey, SqliteStore};
use sotay_client::{ClientConfig, ClientError, Session, SyncOptions};
use sotay_server::admin;
use sotay_sync_core::RecordKind;
use sotay_tests::*;

const DAY_MS: i64 = 86_400_000;

async fn password_for(app: &TestApp, username: &str) -> String {
    let password = format!("{username}-mật-khẩu-dài");
    let user = admin::user_by_name(&app.state.db, username).await.unwrap();
    admin::set_password(&app.state.db, user, &password).await.unwrap();
    password
}

/// Lan's phone, enrolled, with one GBV referral synced; the store in `dir` under `key`.
async fn lans_phone(app: &TestApp, dir: &tempfile::TempDir, key: &PhoneKey) -> (Session, sotay_sync_core::RecordId) {
    let store = SqliteStore::open(&dir.path().join("phone.db"), Some(key)).unwrap();
    let user = admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let code = admin::issue_enrolment_code(&app.state.db, user, 3600).await.unwrap();
    let options = SyncOptions::default();
    let mut session = Session::enrol(store, &app.base, &code, "Lan", ClientConfig::default(), &options).await.unwrap();
    let case = session.device_mut().create(RecordKind::GbvReferral, &gbv_edits("VV-0009"), NOW_MS).unwrap();
    session.sync(&options).await.unwrap();
    (session, case)
}

#[tokio::test]
async fn a_phone_out_of_touch_for_a_month_locks_its_cases_until_its_user_signs_in() {
    let app = spawn_app().await;
    app.commune().await;
    let (lan_password, hoa_password) = (password_for(&app, "lan").await, password_for(&app, "hoa").await);
    let dir = tempfile::tempdir().unwrap();
    let (mut session, case) = lans_phone(&app, &dir, &PhoneKey::generate()).await;
    let options = SyncOptions::default();

    let now = now_ms();
    assert!(!session.lock_if_stale(30, now + 29 * DAY_MS).unwrap(), "29 days: still open");
    assert!(!session.lock_if_stale(0, now + 365 * DAY_MS).unwrap(), "0 turns the lock off");
    assert!(session.lock_if_stale(30, now + 31 * DAY_MS).unwrap());
    assert_eq!(session.device().store().gbv_lock(), Some(GbvLock::Stale));
    assert!(session.device().view(case).is_err(), "the case cannot be read");
    assert!(session.device().list().unwrap().is_empty(), "nor listed");

    // Activities go on, and sync.
    let a = session.device_mut().create(RecordKind::Activity, &activity_edits(3, 4), NOW_MS).unwrap();
    assert_eq!(session.sync(&options).await.unwrap().acked, 1);
    assert!(app.server_record(a).await.is_some());

    // Signing in: a wrong password, then another person's account, then hers.
    assert_eq!(session.sign_in("lan", "sai-mật-khẩu", &options).await, Err(ClientError::BadPassword));
    assert_eq!(session.sign_in("hoa", &hoa_password, &options).await, Err(ClientError::WrongAccount));
    assert_eq!(session.device().store().gbv_lock(), Some(GbvLock::Stale), "still locked");
    session.sign_in("lan", &lan_password, &options).await.unwrap();
    assert_eq!(session.device().store().gbv_lock(), None);
    assert_eq!(session.device().view(case).unwrap().case_code.as_deref(), Some("VV-0009"));
    let message = ClientError::Locked(GbvLock::Stale.to_string()).message(sotay_sync_core::Lang::Vi);
    assert!(message.contains("đăng nhập lại"), "{message}");
}

/// The file and its write-ahead log, as bytes.
fn disk_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The device secret in the forms a careless store could leave it in: its text, its decoded
/// bytes, and hex of either.
fn secret_forms(secret: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret).unwrap_or_default();
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes();
    vec![secret.as_bytes().to_vec(), hex(secret.as_bytes()), hex(&raw), raw]
}

#[tokio::test]
async fn a_store_opened_without_its_key_keeps_its_activities_and_cannot_sign_in_until_the_key_is_back() {
    let app = spawn_app().await;
    app.commune().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let key = PhoneKey::generate();
    let (session, case) = lans_phone(&app, &dir, &key).await;
    let secret = session.credential().secret.clone();
    assert!(secret.len() >= 40, "a real device secret");
    drop(session);
    let bytes = disk_bytes(&path);
    for form in secret_forms(&secret) {
        assert!(!contains(&bytes, &form), "the device secret is on disk in plain form");
    }

    // The app lost its key (the Keystore was reset): the store opens, the case is locked, the
    // activities show and new ones are kept; signing in to sync needs the key.
    for (made, wrong) in [(1, None), (2, Some(PhoneKey::generate()))] {
        let store = SqliteStore::open(&path, wrong.as_ref()).unwrap();
        let mut session = Session::open(store, ClientConfig::default()).unwrap();
        assert!(session.device().store().gbv_lock().is_some());
        assert!(session.device().view(case).is_err());
        session.device_mut().create(RecordKind::Activity, &activity_edits(5, 6), NOW_MS).unwrap();
        let err = session.sync(&SyncOptions::default()).await.unwrap_err();
        assert_eq!(err, ClientError::KeyNeeded);
        let message = err.message(sotay_sync_core::Lang::Vi);
        assert!(message.contains("an toàn") && !message.contains('\n'), "{message}");
        assert_eq!(session.device().pending().unwrap(), made, "every activity made waits, nothing lost");
    }

    // With its key back, everything made meanwhile goes out.
    let mut session = Session::open(SqliteStore::open(&path, Some(&key)).unwrap(), ClientConfig::default()).unwrap();
    let report = session.sync(&SyncOptions::default()).await.unwrap();
    assert_eq!(report.acked, 2, "{report:?}");
    assert_eq!(session.device().view(case).unwrap().case_code.as_deref(), Some("VV-0009"));
}

#[tokio::test]
async fn a_wipe_destroys_the_device_secret_with_the_key() {
    let app = spawn_app().await;
    app.commune().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let (session, _) = lans_phone(&app, &dir, &PhoneKey::generate()).await;
    let sealed = session.device().store().get_meta("secret.credential").unwrap().expect("the sealed secret");
    let store = session.wipe().unwrap();
    drop(store);
    let bytes = disk_bytes(&path);
    // The sealed secret's nonce (after the two-byte header): without it, nothing opens it.
    assert!(!contains(&bytes, &sealed[2..26]), "the sealed device secret survived the wipe");
    let store = SqliteStore::open(&path, None).unwrap();
    assert!(sotay_client::session::credential(&store).unwrap().is_none());
}
