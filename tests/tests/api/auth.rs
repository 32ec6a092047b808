//! Authentication at the sync endpoint: missing, garbage, forged, expired tokens get 401 and
//! change nothing; a revoked device gets 403 with the instruction to wipe; bad bodies get a
//! clear 4xx and store nothing; bodies over the limit get 413.

use sotay_server::auth::Keys;
use sotay_server::config::Limits;
use sotay_sync_core::device::DeviceStore;
use sotay_sync_core::wire;
use sotay_tests::*;

async fn post_sync(app: &TestApp, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = sotay_client::http::plain_client().post(format!("{}/api/v1/sync", app.base)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_tokens_get_401_and_change_nothing() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    a.add_activity(1, 2);
    let body = wire::encode(&a.device.prepare_sync(1 << 20).unwrap());
    let identity = a.device.identity();
    let now = sotay_server::now_ms() as u64 / 1000;
    let forged = Keys::from_secret(b"not the server's key").unwrap().issue(identity.user, identity.device, now, 600);
    let expired = app.state.keys.issue(identity.user, identity.device, now - 7200, 600);
    let not_yet = app.state.keys.issue(identity.user, identity.device, now + 7200, 600);
    let other_device = app.state.keys.issue(identity.user, sotay_sync_core::DeviceId(uuid::Uuid::new_v4()), now, 600);
    let mut parts: Vec<&str> = a.token.split('.').collect();
    let tampered_payload = format!("{}x", parts[1]);
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");
    for token in [
        None,
        Some("garbage"),
        Some(""),
        Some(forged.as_str()),
        Some(expired.as_str()),
        Some(not_yet.as_str()),
        Some(other_device.as_str()),
        Some(tampered.as_str()),
    ] {
        let (status, text) = post_sync(&app, token, body.clone()).await;
        assert_eq!(status, 401, "token {token:?}: {text}");
        assert!(text.contains("unauthorized"));
    }
    assert_eq!(app.log_len().await, 0);
    assert_eq!(app.record_count().await, 0);
    let (status, _) = post_sync(&app, Some(&a.token), body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_revoked_device_is_refused_on_its_next_request_and_told_to_wipe() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    a.sync().await;
    sotay_server::admin::revoke_device(&app.state.db, a.device.identity().device).await.unwrap();
    let body = wire::encode(&a.device.prepare_sync(1 << 20).unwrap());
    let (status, text) = post_sync(&app, Some(&a.token), body).await;
    assert_eq!(status, 403);
    assert!(text.contains("device_revoked") && text.contains("\"wipe_gbv\":true"), "{text}");
    let err = a.client.token(a.device.identity().device, &a.secret).await.unwrap_err();
    assert!(matches!(err, sotay_client::ClientError::Revoked));
}

#[tokio::test]
async fn garbage_bodies_get_400_and_store_nothing() {
    let app = spawn_app().await;
    app.commune().await;
    let a = app.device("lan").await;
    let mut bad_change = wire::encode(&wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: false,
        outbox_through: 1,
        push: vec![wire::RecordChanges { record: vec![7; 16], changes: vec![wire::ChangeBytes(vec![1, 2, 3])] }],
    });
    let bad_id = wire::encode(&wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: false,
        outbox_through: 1,
        push: vec![wire::RecordChanges { record: vec![7; 3], changes: vec![] }],
    });
    for (body, want) in [
        (Vec::new(), 400),
        (b"{\"cursor\": 0}".to_vec(), 400),
        (b"ST\x09\x00".to_vec(), 400),
        (b"ST\x01\x01garbage".to_vec(), 400),
        (bad_id, 400),
    ] {
        let (status, text) = post_sync(&app, Some(&a.token), body).await;
        assert_eq!(status, want, "{text}");
        assert!(text.contains("\"message\""), "{text}");
    }
    // Bytes that are not an Automerge change: that record is refused with a reason, nothing stored.
    let (answer, _) = a.client.sync_raw(&a.token, std::mem::take(&mut bad_change)).await.unwrap();
    assert_eq!(answer.rejected.len(), 1);
    assert_eq!(answer.rejected[0].code, "unprocessable");
    assert!(answer.rejected[0].message.contains("not an Automerge change"));
    assert_eq!(app.log_len().await, 0);
    assert_eq!(app.record_count().await, 0);
}

#[tokio::test]
async fn bodies_and_batches_over_the_limits_are_refused_whole() {
    let limits = Limits { max_body_bytes: 4096, max_push_records: 3, ..Limits::default() };
    let app = spawn_app_with(limits).await;
    app.commune().await;
    let mut a = app.device("lan").await;
    // Just past the body limit, with a Content-Length…
    let (status, _) = post_sync(&app, Some(&a.token), vec![0; 4097]).await;
    assert_eq!(status, 413);
    // …and streamed (chunked) without one.
    assert_eq!(chunked_post(&app, &a.token, 4097).await, 413);
    // A batch of 4 records when 3 are allowed: 413, nothing stored.
    for i in 0..4 {
        a.add_activity(i, i);
    }
    let body = wire::encode(&a.device.prepare_sync(1 << 20).unwrap());
    assert!(body.len() < 4096);
    let (status, text) = post_sync(&app, Some(&a.token), body).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(app.record_count().await, 0);
}

/// Posts `len` bytes as a chunked body (no Content-Length) over a raw connection; returns the status.
async fn chunked_post(app: &TestApp, token: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in vec![0u8; len].chunks(1000) {
        let _ = conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await;
        let _ = conn.write_all(chunk).await;
        let _ = conn.write_all(b"\r\n").await;
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Arbitrary bodies at the sync endpoint: always a 4xx with the error shape or a well-formed
/// answer, never a 5xx, and nothing stored but the device's genuine changes (a damaged body can
/// still be a valid request, e.g. with a flipped cursor; every change carries its own checksum).
/// (A deterministic generator, so a failure can be replayed.)
#[tokio::test]
async fn arbitrary_sync_bodies_get_a_4xx_and_store_nothing_but_genuine_changes() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    for i in 0..5 {
        a.add_activity(i, i);
    }
    let valid = wire::encode(&a.device.prepare_sync(1 << 20).unwrap());
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let body = match round % 3 {
            0 => (0..next() % 600).map(|_| next() as u8).collect::<Vec<u8>>(),
            1 => {
                let mut b = valid.clone();
                let i = (next() as usize) % b.len();
                b[i] ^= (next() as u8) | 1;
                b
            }
            _ => valid[..(next() as usize) % valid.len()].to_vec(),
        };
        let (status, text) = post_sync(&app, Some(&a.token), body).await;
        // A damaged body may still decode into a well-formed request whose changes are refused
        // one by one (200 with refusals); anything else must be a 4xx with the error shape.
        assert!(status == 200 || (400..500).contains(&status), "round {round}: {status} {text}");
        if status != 200 {
            assert!(text.contains("\"error\"") && text.contains("\"message\""), "round {round}: {text}");
        }
    }
    let genuine: std::collections::HashSet<Vec<u8>> = a
        .device
        .store()
        .outbox(usize::MAX)
        .unwrap_or_else(|e| match e {})
        .iter()
        .map(|e| sotay_sync_core::inspect::inspect_change(&e.change).unwrap().hash.to_vec())
        .collect();
    let stored: Vec<Vec<u8>> = sqlx::query("SELECT hash FROM changes")
        .fetch_all(&app.state.db.read)
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get(r, 0))
        .collect();
    assert!(stored.iter().all(|h| genuine.contains(h)), "only the device's own changes were ever stored");
    // And the device still syncs to exactly its own data.
    a.sync().await;
    let mut fresh = app.device("hoa").await;
    fresh.sync().await;
    assert_eq!(fresh.views(), a.views());
}

#[tokio::test]
async fn a_rotated_signing_key_refuses_old_tokens_after_a_restart_and_phones_get_new_ones() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let old = lan.token.clone();
    assert_eq!(app.call("GET", "/api/v1/me", Some(&old), None).await.0, 200);
    sotay_server::admin::rotate_signing_key(&app.state.db).await.unwrap();
    assert_eq!(app.audit_count("key.rotate").await, 1);
    let app = app.restart().await;
    lan.reconnect(&app.base);
    assert_eq!(app.call("GET", "/api/v1/me", Some(&old), None).await.0, 401, "signed with the old key");
    let device = lan.device.identity().device;
    lan.token = lan.client.token(device, &lan.secret).await.unwrap().access_token;
    assert_eq!(
        app.call("GET", "/api/v1/me", Some(&lan.token), None).await.0,
        200,
        "a new token, from the device secret"
    );
}
