//! The phone library over a bad link: a proxy between the phone (`sotay-client`'s `Session` over
//! its SQLite store) and the real server stalls, cuts requests mid-body and drops answers after
//! the server committed. Nothing is lost or stored twice, the retries happen by themselves and
//! stop by themselves, and enrolment survives a lost answer.

use sotay_client::{ClientConfig, RetryPolicy, Session, SqliteStore, SyncOptions, SyncStatus};
use sotay_server::admin;
use sotay_sync_core::schema::{Lang, RecordKind};
use sotay_tests::proxy::{Link, Proxy};
use sotay_tests::{NOW_MS, TestApp, activity_edits, spawn_app};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn fast_retries(max_attempts: u32) -> SyncOptions {
    SyncOptions {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        ..SyncOptions::default()
    }
}

/// The phone key of the test phone's store (the app passes the same one on every open).
fn phone_key() -> sotay_client::store::PhoneKey {
    sotay_client::store::PhoneKey::from_bytes([7; 32])
}

fn config() -> ClientConfig {
    ClientConfig { stall_timeout: Duration::from_millis(1500), ..ClientConfig::default() }
}

async fn code_for(app: &TestApp, username: &str) -> String {
    let user = admin::user_by_name(&app.state.db, username).await.unwrap();
    admin::issue_enrolment_code(&app.state.db, user, 3600).await.unwrap()
}

/// A phone enrolled through `proxy`, its store in `dir`.
async fn phone(app: &TestApp, proxy: &Proxy, dir: &tempfile::TempDir) -> Session {
    phone_with(app, proxy, dir, config()).await
}

/// A phone enrolled through `proxy` with `config`, its store in `dir`.
async fn phone_with(app: &TestApp, proxy: &Proxy, dir: &tempfile::TempDir, config: ClientConfig) -> Session {
    let store = SqliteStore::open(&dir.path().join("phone.db"), Some(&phone_key())).unwrap();
    let code = code_for(app, "lan").await;
    Session::enrol(store, &proxy.base, &code, "điện thoại của Lan", config, &fast_retries(8)).await.unwrap()
}

/// A server with a commune, a proxy in front of it, and Lan's phone enrolled through the proxy.
async fn enrolled_phone() -> (TestApp, Proxy, tempfile::TempDir, Session) {
    enrolled_phone_with(config()).await
}

/// The same, the phone with `config`.
async fn enrolled_phone_with(config: ClientConfig) -> (TestApp, Proxy, tempfile::TempDir, Session) {
    let app = spawn_app().await;
    app.commune().await;
    let proxy = Proxy::start(&upstream(&app), Link::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let session = phone_with(&app, &proxy, &dir, config).await;
    (app, proxy, dir, session)
}

fn upstream(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn an_enrolment_whose_answer_is_lost_is_retried_into_the_same_device() {
    let app = spawn_app().await;
    app.commune().await;
    let proxy = Proxy::start(&upstream(&app), Link::default()).await;
    let dir = tempfile::tempdir().unwrap();
    proxy.faults.drop_answers(1);
    let session = phone(&app, &proxy, &dir).await;
    assert_eq!(proxy.faults.answers_dropped.load(Ordering::SeqCst), 1, "the first answer was lost");
    let user = admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let devices = admin::list_devices(&app.state.db, user).await.unwrap();
    assert_eq!(devices.len(), 1, "one device, not one per attempt");
    assert_eq!(devices[0].id, session.device_id());

    // A different secret with the used code is still refused: the retry is not a second enrolment.
    let client = sotay_client::Client::new(&app.base).unwrap();
    let code_again = code_for(&app, "lan").await;
    client.enrol(&code_again, "x", None).await.unwrap();
    let err = client.enrol(&code_again, "x", Some(&"A".repeat(43))).await.unwrap_err();
    assert_eq!(err.code(), "code_used", "{err:?}");
}

#[tokio::test]
async fn cut_requests_and_lost_answers_lose_nothing_and_store_nothing_twice() {
    let (app, proxy, _dir, mut session) = enrolled_phone().await;
    session.sync(&fast_retries(8)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(session.device_mut().create(RecordKind::Activity, &activity_edits(10 + i, 5), NOW_MS).unwrap());
    }
    let log_before = app.log_len().await;
    proxy.faults.cut_requests(1);
    proxy.faults.drop_answers(2);
    let report = session.sync(&fast_retries(8)).await.unwrap();
    assert!(report.retries >= 3, "{report:?}");
    assert_eq!(proxy.faults.requests_cut.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.faults.answers_dropped.load(Ordering::SeqCst), 2);
    assert_eq!(session.device().pending().unwrap(), 0, "everything acknowledged");
    assert_eq!(app.record_count().await, 30, "every record stored");
    assert_eq!(app.log_len().await - log_before, 30, "each change logged exactly once");
    for id in ids {
        assert!(app.server_record(id).await.is_some());
    }
}

#[tokio::test]
async fn a_fade_during_a_sync_is_waited_out_and_the_sync_resumes_by_itself() {
    let (app, proxy, _dir, mut session) = enrolled_phone().await;
    session.sync(&fast_retries(3)).await.unwrap();
    for i in 0..5 {
        session.device_mut().create(RecordKind::Activity, &activity_edits(i, 1), NOW_MS).unwrap();
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SyncStatus>();
    let mut options = fast_retries(20);
    options.progress = Some(Arc::new(move |s: &SyncStatus| {
        let _ = tx.send(s.clone());
    }));
    proxy.faults.stall();
    let faults = proxy.faults.clone();
    let syncing = tokio::spawn(async move {
        let r = session.sync(&options).await;
        (session, r)
    });
    // The phone notices the silence and starts retrying on its own; then the link comes back.
    loop {
        let s = rx.recv().await.expect("progress");
        if s.retrying_in.is_some() {
            break;
        }
    }
    faults.resume();
    let (session, report) = syncing.await.unwrap();
    let report = report.unwrap();
    assert!(report.retries >= 1);
    assert_eq!(report.acked, 5);
    assert_eq!(session.device().pending().unwrap(), 0);
    assert_eq!(app.record_count().await, 5);
    assert!(session.last_sync_ms().unwrap().is_some());
}

#[tokio::test]
async fn retries_stop_by_themselves_with_one_clear_sentence_and_the_data_kept() {
    let (app, proxy, _dir, mut session) = enrolled_phone().await;
    session.device_mut().create(RecordKind::Activity, &activity_edits(3, 4), NOW_MS).unwrap();
    proxy.faults.stall();
    let err = session.sync(&fast_retries(3)).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.code(), "network");
    let vi = err.message(Lang::Vi);
    assert!(vi.contains("an toàn") && !vi.contains('\n'), "{vi}");
    assert_eq!(session.device().pending().unwrap(), 1, "the unsent change is still there");
    proxy.faults.resume();
    session.sync(&fast_retries(3)).await.unwrap();
    assert_eq!(app.record_count().await, 1);
}

#[tokio::test]
async fn a_sync_is_cancelled_at_once_and_nothing_is_lost() {
    let (app, proxy, _dir, mut session) = enrolled_phone().await;
    session.device_mut().create(RecordKind::Activity, &activity_edits(3, 4), NOW_MS).unwrap();
    proxy.faults.stall();
    let options = fast_retries(50);
    let cancel = options.cancel.clone();
    let syncing = tokio::spawn(async move {
        let r = session.sync(&options).await;
        (session, r)
    });
    tokio::task::yield_now().await;
    cancel.cancel();
    let (mut session, r) =
        tokio::time::timeout(Duration::from_secs(5), syncing).await.expect("cancelled promptly").unwrap();
    assert_eq!(r.unwrap_err().code(), "cancelled");
    proxy.faults.resume();
    assert_eq!(session.device().pending().unwrap(), 1);
    session.sync(&fast_retries(3)).await.unwrap();
    assert_eq!(app.record_count().await, 1);
}

#[tokio::test]
async fn a_revoked_phone_wipes_its_gbv_records_and_stops() {
    let (app, _proxy, dir, mut session) = enrolled_phone().await;
    session.device_mut().create(RecordKind::Activity, &activity_edits(3, 4), NOW_MS).unwrap();
    session.device_mut().create(RecordKind::GbvReferral, &sotay_tests::gbv_edits("VN-1"), NOW_MS).unwrap();
    session.sync(&fast_retries(3)).await.unwrap();
    admin::revoke_device(&app.state.db, session.device_id()).await.unwrap();
    // A fresh session (no cached token) meets the revocation at its token request.
    let store = SqliteStore::open(&dir.path().join("phone.db"), Some(&phone_key())).unwrap();
    drop(session);
    let mut session = Session::open(store, config()).unwrap();
    let err = session.sync(&fast_retries(3)).await.unwrap_err();
    assert_eq!(err.code(), "revoked");
    let kinds: Vec<RecordKind> = session.device().list().unwrap().iter().map(|v| v.kind).collect();
    assert_eq!(kinds, vec![RecordKind::Activity], "GBV referrals wiped, activities kept");
    assert!(session.is_revoked().unwrap());
    let kept = sotay_client::session::credential(session.device().store()).unwrap().unwrap();
    assert!(kept.secret.is_empty(), "the device secret does not stay on a revoked phone");
    assert_eq!(session.sync(&fast_retries(3)).await.unwrap_err().code(), "revoked");
}

/// A note of about 2,500 characters that compresses about as poorly as real writing.
fn long_note(seed: u64) -> String {
    const SYLLABLES: [&str; 16] =
        ["chị", "em", "thôn", "họp", "bạo", "lực", "gia", "đình", "hỗ", "trợ", "tư", "vấn", "nhà", "văn", "hóa", "xã"];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::new();
    while out.chars().count() < 2500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(SYLLABLES[(x % 16) as usize]);
        out.push(if x.is_multiple_of(11) { '.' } else { ' ' });
    }
    out
}

#[tokio::test]
async fn a_failed_push_is_re_sent_once_and_smaller() {
    // Only the dropped answer may fail a round: a busy CI machine can take longer than the other
    // tests' 1.5 s stall timeout over a 60 KB push.
    let patient = ClientConfig { stall_timeout: Duration::from_secs(60), ..ClientConfig::default() };
    let (app, proxy, _dir, mut session) = enrolled_phone_with(patient).await;
    session.sync(&fast_retries(3)).await.unwrap();
    for i in 0..70u32 {
        let mut edits = activity_edits(10 + i % 7, 5);
        edits.push(sotay_sync_core::Edit::Notes(long_note(u64::from(i))));
        session.device_mut().create(RecordKind::Activity, &edits, NOW_MS).unwrap();
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SyncStatus>();
    let mut options = fast_retries(8);
    options.progress = Some(Arc::new(move |s: &SyncStatus| {
        let _ = tx.send(s.clone());
    }));
    let (log_before, up_before) = (app.log_len().await, proxy.faults.bytes_up.load(Ordering::SeqCst));
    // The first push reaches the server, which commits it; its answer is lost on the way back.
    proxy.faults.drop_answers(1);
    let report = session.sync(&options).await.unwrap();
    drop(options);
    assert_eq!(proxy.faults.answers_dropped.load(Ordering::SeqCst), 1);
    // The dropped answer fails a round; the connection it closed can fail the next attempt too
    // when the client had already picked it up, which is a second failure of the same fault.
    assert!((1..=2).contains(&report.retries), "{report:?}");
    assert_eq!(session.device().pending().unwrap(), 0);
    assert_eq!(app.log_len().await - log_before, 70, "each change logged exactly once");

    // Each successful round's request, in order; the retry comes between the first two.
    let mut rounds = Vec::new();
    let (mut sent, mut retried_before) = (0, None);
    while let Ok(s) = rx.try_recv() {
        if s.retrying_in.is_some() {
            retried_before = Some(rounds.len());
        } else {
            rounds.push(s.bytes_sent - sent);
            sent = s.bytes_sent;
        }
    }
    assert_eq!(retried_before, Some(0), "the first round failed: {rounds:?}");
    let largest = *rounds.iter().max().unwrap();
    assert!(rounds.len() >= 3 && largest > 20_000, "the outbox needs several pushes: {rounds:?}");
    // After the failure the phone pushes half as much: a link that fails under a big push gets a
    // smaller one.
    assert!(rounds[0] * 4 < largest * 3, "the push after the failure is smaller: {rounds:?}");
    // What the failure cost is the lost batch sent again, no more (headers aside): at most one
    // batch per failed attempt.
    let up = proxy.faults.bytes_up.load(Ordering::SeqCst) - up_before;
    let resent = up as usize - report.wire.request_bytes;
    assert!(resent <= report.retries as usize * largest + 8 * 1024, "{resent} B re-sent; rounds {rounds:?}");
    println!("a lost answer: {resent} B sent again, rounds {rounds:?}");
}

#[tokio::test]
async fn a_sync_with_nothing_new_costs_under_a_kilobyte_headers_included() {
    let (_app, proxy, _dir, mut session) = enrolled_phone().await;
    session.sync(&fast_retries(3)).await.unwrap();
    session.sync(&fast_retries(3)).await.unwrap(); // the token is fetched; the epoch is known
    let (up, down) = (proxy.faults.bytes_up.load(Ordering::SeqCst), proxy.faults.bytes_down.load(Ordering::SeqCst));
    let report = session.sync(&fast_retries(3)).await.unwrap();
    let up = proxy.faults.bytes_up.load(Ordering::SeqCst) - up;
    let down = proxy.faults.bytes_down.load(Ordering::SeqCst) - down;
    assert_eq!(report.round_trips, 1);
    let (body_up, body_down) = (report.wire.request_bytes as u64, report.wire.response_bytes as u64);
    println!(
        "a no-op sync: {body_up} B body + {} B headers up, {body_down} B body + {} B headers down, {} B in all",
        up - body_up,
        down - body_down,
        up + down
    );
    assert!(up + down <= 1024, "{up} B up, {down} B down");
}
