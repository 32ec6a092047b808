//! The phone's GBV referrals at rest, through the real server: a phone out of touch for a month
//! locks its cases until its own user signs in again, and a store opened without its key still
//! syncs its activities.

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

#[tokio::test]
async fn a_store_opened_without_its_key_still_syncs_its_activities() {
    let app = spawn_app().await;
    app.commune().await;
    let dir = tempfile::tempdir().unwrap();
    let (session, case) = lans_phone(&app, &dir, &PhoneKey::generate()).await;
    drop(session);

    // The app lost its key (a reinstall wiped the Keystore): the store opens, the case is locked.
    let store = SqliteStore::open(&dir.path().join("phone.db"), None).unwrap();
    let mut session = Session::open(store, ClientConfig::default()).unwrap();
    assert_eq!(session.device().store().gbv_lock(), Some(GbvLock::NoKey));
    let a = session.device_mut().create(RecordKind::Activity, &activity_edits(5, 6), NOW_MS).unwrap();
    let report = session.sync(&SyncOptions::default()).await.unwrap();
    assert_eq!(report.acked, 1, "{report:?}");
    assert!(app.server_record(a).await.is_some());
    assert!(session.device().view(case).is_err());
    assert_eq!(
        app.server_record(case).await.unwrap().view().case_code.as_deref(),
        Some("VV-0009"),
        "safe on the server"
    );
}
