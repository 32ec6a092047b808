//! A server that stays up under abuse, one bound at a time, on the real server over HTTP and raw
//! TCP: throttles counted atomically and audited in aggregate, enrolment codes throttled, a busy
//! database waited for then answered 503, the audit log scoped to one commune, requests and
//! bodies bounded, connections capped and timed out. (Load with RSS figures is in
//! `server/tests/load.rs`, on the server as its own process.)

use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_server::config::Limits;
use sotay_tests::*;
use sqlx::Row;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Opens a TCP connection to the app from a given loopback address.
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let to: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes the connection (bounded, so a server that never closes fails
/// the test instead of hanging it).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection in time")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends one complete request and reads one response head and body (Content-Length framed).
async fn request(stream: &mut TcpStream, method: &str, path: &str) -> String {
    let req = format!("{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut chunk)).await.unwrap().unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + len || n == 0 {
                return text;
            }
        } else if n == 0 {
            return text;
        }
    }
}

/// A request whose body never finishes: it holds a request slot and its declared body's budget.
async fn stalled_body(app: &TestApp, declared: usize) -> TcpStream {
    let mut s = connect_from(app, "127.0.0.1").await;
    let head = format!(
        "POST /api/v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

#[tokio::test]
async fn forty_simultaneous_wrong_passwords_are_counted_one_by_one() {
    let app = spawn_app().await;
    app.commune().await;
    app.web_login("reviewer").await;
    let attempts = (0..40).map(|_| login(app.base.clone(), "reviewer", "sai mật khẩu rồi"));
    let statuses: Vec<u16> = futures_join_all(attempts).await;
    let unauthorized = statuses.iter().filter(|&&s| s == 401).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    println!("40 simultaneous wrong passwords: {unauthorized} × 401, {throttled} × 429");
    assert_eq!((unauthorized, throttled), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn throttled_attempts_are_audited_once_per_key_per_minute_with_a_count() {
    let app = spawn_app().await;
    app.commune().await;
    for _ in 0..5 {
        assert_eq!(app.login("reviewer", "sai mật khẩu rồi").await.0, 401);
    }
    // Five more failures' worth of delay (32 s), so that the flood below is refused however
    // slowly this machine sends it.
    sqlx::query("UPDATE throttle SET attempts = attempts + 5").execute(&app.state.db.write).await.unwrap();
    for _ in 0..300 {
        assert_eq!(app.login("reviewer", "sai mật khẩu rồi").await.0, 429);
    }
    assert_eq!(app.audit_count("login.failure").await, 5);
    assert_eq!(app.audit_count("login.throttled").await, 2, "one row for the account, one for the address");
    // A minute later, the next refusal reports the ones in between.
    sqlx::query("UPDATE throttle SET audited_at = audited_at - 60000").execute(&app.state.db.write).await.unwrap();
    assert_eq!(app.login("reviewer", "sai mật khẩu rồi").await.0, 429);
    assert_eq!(app.audit_count("login.throttled").await, 4);
    let last: String =
        sqlx::query("SELECT detail FROM audit_log WHERE action = 'login.throttled' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.read)
            .await
            .unwrap()
            .get(0);
    assert!(last.starts_with("300 attempts refused"), "{last}");
}

#[tokio::test]
async fn wrong_enrolment_codes_are_throttled_and_audited_but_an_office_can_enrol_many_phones_at_once() {
    let app = spawn_app().await;
    app.commune().await;
    let lan = admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(admin::issue_enrolment_code(&app.state.db, lan, 3600).await.unwrap());
    }
    // Ten phones enrolled at the same moment from one office address: all succeed.
    let enrol = |code: String| {
        let base = app.base.clone();
        async move {
            let (status, retry) = enrol_with(base, code).await;
            (status, retry.is_some())
        }
    };
    let all = futures_join_all(codes.into_iter().map(enrol)).await;
    assert!(all.iter().all(|&(s, _)| s == 200), "{all:?}");
    // Guessing is not.
    for i in 0..5 {
        assert_eq!(enrol(format!("WRNG-CODE-{i:04}")).await.0, 401);
    }
    let (status, retry_after) = enrol("WRNG-CODE-0005".into()).await;
    assert_eq!(status, 429);
    assert!(retry_after);
    assert_eq!(app.audit_count("enrol.failure").await, 5);
    assert_eq!(app.audit_count("enrol.throttled").await, 1);
}

#[tokio::test]
async fn a_busy_database_is_waited_for_and_past_the_bound_answered_503_not_500() {
    if backend() == Backend::Postgres {
        println!("SQLite only: PostgreSQL has no file lock to hold");
        return;
    }
    use sqlx::Connection;
    let app = spawn_app_with(Limits { db_busy_timeout_ms: 1000, ..Limits::default() }).await;
    app.commune().await;
    let lan = admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(admin::issue_enrolment_code(&app.state.db, lan, 3600).await.unwrap());
    }
    let enrol = |code: String| enrol_with(app.base.clone(), code);
    // Another process (an admin command) writes to the same file for a moment.
    let file = format!("sqlite://{}", app.dir().join("sotay.db").display());
    let mut other = sqlx::SqliteConnection::connect(&file).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let four = tokio::spawn(futures_join_all(codes.drain(..4).map(enrol).collect::<Vec<_>>()));
    // The other writer's work takes a while (a duration to simulate, not an event to await).
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    let four = four.await.unwrap();
    assert!(four.iter().all(|(s, _)| *s == 200), "waited for, not failed: {four:?}");
    // Held past the busy timeout: 503 with Retry-After, and the code is not used up.
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let code = codes.pop().unwrap();
    let (status, retry) = enrol(code.clone()).await;
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("2"));
    assert_eq!(enrol(code).await.0, 200, "the code still works once the database is free");
}

#[tokio::test]
async fn the_audit_log_shows_an_admin_only_their_own_communes_entries_in_pages() {
    let app = spawn_app().await;
    let mine = app.commune().await.commune;
    let db = &app.state.db;
    let other = admin::create_commune(db, "Phúc Hòa").await.unwrap();
    let village = admin::create_village(db, other, "Thôn Bắc").await.unwrap();
    let mut theirs = Vec::new();
    for (name, role, village) in [
        ("admin2", Role::Admin, None),
        ("focal2", Role::GbvFocalPoint, None),
        ("mai", Role::Collaborator, Some(village)),
    ] {
        let id = admin::create_user(db, NewUser { username: name, display_name: name, role, commune: other, village })
            .await
            .unwrap();
        theirs.push(id.to_string());
    }
    app.device("mai").await;
    app.web_login("focal2").await;
    assert_eq!(app.login("focal2", "sai mật khẩu rồi").await.0, 401);
    let admin = app.web_login("admin").await;
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let (status, body) =
            app.call("GET", &format!("/api/v1/admin/audit?limit=3&after={after}"), Some(&admin), None).await;
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert!(seen.iter().any(|e| e["action"] == "login.success"), "the admin's own login is there");
    for e in &seen {
        let user = e["user"].as_str().unwrap_or("");
        assert!(!theirs.iter().any(|t| t == user), "another commune's entry leaked: {e}");
    }
    let total_mine: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_log WHERE actor_user IN (SELECT id FROM users WHERE commune_id = $1)
            OR device_id IN (SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.commune_id = $1)",
    )
    .bind(mine.as_bytes().as_slice())
    .fetch_one(&db.read)
    .await
    .unwrap()
    .get(0);
    assert_eq!(seen.len() as i64, total_mine, "paging neither skips nor repeats");
    for bad in ["limit=0", "limit=1001", "after=x"] {
        assert_eq!(app.call("GET", &format!("/api/v1/admin/audit?{bad}"), Some(&admin), None).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_wait_then_get_503_with_retry_after_and_healthz_still_answers() {
    sotay_client::http::install_crypto_provider(); // for reqwest::get, whichever test runs first
    let app = spawn_app_with(Limits { max_in_flight: 2, budget_wait_ms: 200, ..Limits::default() }).await;
    let held = [stalled_body(&app, 100).await, stalled_body(&app, 100).await];
    // The two stalled requests take their slots as soon as their heads arrive.
    let mut refused = None;
    for _ in 0..1000 {
        let asked = std::time::Instant::now();
        let resp = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
        if resp.status() == 503 {
            refused = Some((resp, asked.elapsed()));
            break;
        }
        tokio::task::yield_now().await;
    }
    let (refused, waited) = refused.expect("a third request is refused while two are in flight");
    assert!(waited >= std::time::Duration::from_millis(200), "it waited for a slot first: {waited:?}");
    assert_eq!(refused.headers()["retry-after"], "2");
    let body = refused.text().await.unwrap();
    assert!(body.contains("\"unavailable\""), "{body}");
    assert_eq!(reqwest::get(format!("{}/healthz", app.base)).await.unwrap().status(), 200);
    drop(held);
    let mut ready = false;
    for _ in 0..1000 {
        if reqwest::get(format!("{}/readyz", app.base)).await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(ready, "the slots are given back when the clients go away");
}

#[tokio::test]
async fn a_login_that_gets_no_hashing_slot_in_time_is_answered_503_and_not_counted() {
    let app = spawn_app_with(Limits { argon2_concurrency: 1, argon2_queue_ms: 300, ..Limits::default() }).await;
    app.commune().await;
    app.web_login("reviewer").await;
    let right = "reviewer-mật-khẩu-dài";
    // Another login's hash holds the only slot until it is told to finish (an event, not a
    // duration: the logins below cannot get the slot however fast or slow this machine is).
    let (started, is_started) = tokio::sync::oneshot::channel();
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let pressure = app.state.pressure.clone();
    let holder = tokio::spawn(async move {
        pressure
            .hash(move |_| {
                let _ = started.send(());
                let _ = finished.recv();
            })
            .await
    });
    is_started.await.unwrap();
    // One at a time: simultaneous logins from one address would queue on the address's
    // throttle lock instead, which is another bound (also 503 past the same wait).
    for password in [right, "sai mật khẩu rồi"] {
        let asked = std::time::Instant::now();
        let resp = sotay_client::http::plain_client()
            .post(format!("{}/api/v1/login", app.base))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "username": "reviewer", "password": password }).to_string())
            .send()
            .await
            .unwrap();
        let waited = asked.elapsed();
        assert_eq!(resp.status(), 503, "{password}");
        assert!(waited >= Duration::from_millis(300), "it waited for a slot first: {waited:?}");
        assert_eq!(resp.headers()["retry-after"], "2");
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
        assert_eq!(body["message"], "the server is busy; nothing was changed, try again in a few seconds", "{body}");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 3, "the error body and nothing else: {body}");
    }
    // Nothing was decided, so nothing was counted: no failure towards the throttle, no success.
    assert_eq!(app.audit_count("login.failure").await, 0);
    assert_eq!(app.audit_count("login.success").await, 1, "web_login's own");
    let throttled: i64 =
        sqlx::query("SELECT COUNT(*) FROM throttle").fetch_one(&app.state.db.read).await.unwrap().get(0);
    assert_eq!(throttled, 0);
    // What does not hash does not wait.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.call("GET", path, None, None).await.0, 200, "{path}");
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"sotay_http_requests_total{method="POST",route="/api/v1/login",status="503"} 2"#),
        "{metrics}"
    );
    finish.send(()).unwrap();
    holder.await.unwrap().unwrap();
    // With the slot free, logins are decided again.
    assert_eq!(app.login("reviewer", "sai mật khẩu rồi").await.0, 401);
    assert_eq!(app.login("reviewer", right).await.0, 200);
}

#[tokio::test]
async fn a_body_that_stalls_gets_408() {
    let app = spawn_app_with(Limits { body_timeout_secs: 1, body_min_rate: 1024, ..Limits::default() }).await;
    let mut s = stalled_body(&app, 5000).await;
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
}

#[tokio::test]
async fn a_body_past_the_memory_budget_waits_then_gets_503_and_nothing_is_lost_after() {
    let limits = Limits { memory_budget_bytes: 1 << 20, budget_wait_ms: 200, ..Limits::default() };
    let app = spawn_app_with(limits).await;
    let held = stalled_body(&app, 900 * 1024).await;
    let big = vec![b'x'; 300 * 1024];
    let mut status = 0;
    for _ in 0..1000 {
        status = app.call("POST", "/api/v1/login", None, Some(big.clone())).await.0;
        if status == 503 {
            break;
        }
    }
    assert_eq!(status, 503, "the budget is taken by the stalled body");
    drop(held);
    let mut after = 503;
    for _ in 0..1000 {
        after = app.call("POST", "/api/v1/login", None, Some(big.clone())).await.0;
        if after != 503 {
            break;
        }
    }
    assert_eq!(after, 400, "with the budget free, the same body is read (and is not JSON)");
}

#[tokio::test]
async fn headers_that_never_finish_are_cut_off_and_idle_connections_closed() {
    let app = spawn_app_with(Limits { header_timeout_secs: 1, ..Limits::default() }).await;
    let mut slow = connect_from(&app, "127.0.0.1").await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    read_until_closed(&mut slow).await;
    let mut idle = connect_from(&app, "127.0.0.1").await;
    assert!(request(&mut idle, "GET", "/healthz").await.starts_with("HTTP/1.1 200"));
    read_until_closed(&mut idle).await;
}

#[tokio::test]
async fn connections_past_the_caps_get_the_overflow_lane_and_other_addresses_are_served() {
    let limits = Limits { max_connections_per_addr: 4, overflow_connections: 2, ..Limits::default() };
    let app = spawn_app_with(limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from(&app, "127.0.0.1").await;
        assert!(request(&mut s, "GET", "/healthz").await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut fifth = connect_from(&app, "127.0.0.1").await;
    let answer = request(&mut fifth, "GET", "/api/v1/me").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 2"), "{answer}");
    let mut sixth = connect_from(&app, "127.0.0.1").await;
    assert!(request(&mut sixth, "GET", "/healthz").await.starts_with("HTTP/1.1 200"), "healthz in the overflow lane");
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let client = {
        sotay_client::http::install_crypto_provider();
        reqwest::Client::builder()
    }
    .local_address(other)
    .build()
    .unwrap();
    let resp = client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "another address is served normally");
}

/// `POST /api/v1/enrol` with a code; the status and the Retry-After header.
async fn enrol_with(base: String, code: String) -> (u16, Option<String>) {
    let resp = sotay_client::http::plain_client()
        .post(format!("{base}/api/v1/enrol"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "code": code, "device_name": "điện thoại" }).to_string())
        .send()
        .await
        .unwrap();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), retry)
}

/// `POST /api/v1/login`; the status.
/// A wrong password for `username`, sent with `X-Forwarded-For: <forwarded>`.
async fn wrong_login_via(base: &str, username: &str, forwarded: &str) -> u16 {
    let resp = sotay_client::http::plain_client()
        .post(format!("{base}/api/v1/login"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(serde_json::json!({ "username": username, "password": "sai mật khẩu rồi" }).to_string())
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled_and_otherwise_the_header_is_ignored() {
    // Six wrong passwords for six different names from one address: the address is throttled.
    for trusted in [true, false] {
        let limits = Limits {
            trusted_proxies: if trusted { vec!["127.0.0.1".parse().unwrap()] } else { Vec::new() },
            ..Limits::default()
        };
        let app = spawn_app_with(limits).await;
        let mut statuses = Vec::new();
        for i in 0..6 {
            // A client may put anything first; the proxy's own entry is the last one.
            statuses.push(wrong_login_via(&app.base, &format!("ai-{i}"), &format!("10.9.9.{i}, 203.0.113.5")).await);
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "trusted proxy: {trusted}");
        let other = wrong_login_via(&app.base, "ai-khac", "203.0.113.6").await;
        if trusted {
            assert_eq!(other, 401, "another client behind the proxy is not held up");
            let audited: i64 =
                sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure' AND detail = '203.0.113.6'")
                    .fetch_one(&app.state.db.read)
                    .await
                    .unwrap()
                    .get(0);
            assert_eq!(audited, 1, "the audit log names the client, not the proxy");
        } else {
            assert_eq!(other, 429, "without a trusted proxy the header changes nothing");
        }
    }
}

async fn login(base: String, username: &'static str, password: &'static str) -> u16 {
    let resp = sotay_client::http::plain_client()
        .post(format!("{base}/api/v1/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "username": username, "password": password }).to_string())
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
