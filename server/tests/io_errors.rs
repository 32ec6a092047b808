//! A disk that fails writes (SPEC §4, §9): `sotay-server` runs with a small `LD_PRELOAD` shim
//! (`faults/failing_io.c`, built here with the system C compiler; skipped with the reason printed
//! where there is none) that makes every write and sync to its database's directory fail with EIO
//! after the Nth, for several N: a sync caught by it gets a clear error, nothing it sent is
//! acknowledged, the server stays up, and once writes work again the phone's next sync stores
//! everything exactly once.

mod common;

use common::one_village_with_codes;
use sotay_client::{Client, ClientError};
use sotay_sync_core::device::{Device, MemoryStore};
use sotay_sync_core::sample;
use sotay_sync_core::schema::RecordKind;
use sqlx::Row;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NOW_MS: i64 = 1_795_651_200_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(
    db_url: &str,
    port: u16,
    shim: &std::path::Path,
    dir: &std::path::Path,
    flag: &std::path::Path,
    after: u32,
) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_sotay-server"))
        .args(["--database-url", db_url, "--bind", &format!("127.0.0.1:{port}"), "--metrics-bind", "127.0.0.1:0"])
        .env("LD_PRELOAD", shim)
        .env("SOTAY_FAIL_DIR", dir)
        .env("SOTAY_FAIL_FLAG", flag)
        .env("SOTAY_FAIL_WRITES_AFTER", after.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let http = sotay_client::http::plain_client();
    for _ in 0..600 {
        if http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sotay-server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_failing_at_the_nth_acknowledge_nothing_and_the_server_recovers() {
    let work = tempfile::tempdir().unwrap();
    let Some(shim) = common::io_fault_shim(work.path()) else { return };
    let dir = work.path().join("db");
    std::fs::create_dir(&dir).unwrap();
    let flag = work.path().join("disk-failing");
    let db_url = format!("sqlite://{}", dir.join("sotay.db").display());
    let (db, codes) = one_village_with_codes(&db_url, 1).await;
    db.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut phone: Option<(Device<MemoryStore>, String)> = None;
    let mut made = 0;
    let mut failed = 0;
    for (phase, after) in [0u32, 1, 2, 3, 5, 8, 13].into_iter().enumerate() {
        let _ = std::fs::remove_file(&flag);
        let server = start(&db_url, port, &shim, &dir, &flag, after).await;
        let client = Client::new(&base).unwrap();
        let (device, secret) = match phone.take() {
            Some(p) => p,
            None => common::enrol_phone(&client, &codes[0]).await,
        };
        let mut device = device;
        let token = client.token(device.identity().device, &secret).await.unwrap().access_token;
        for k in 0..10u32 {
            device.create(RecordKind::Activity, &sample::activity(phase as u32 * 100 + k, 2026), NOW_MS).unwrap();
            made += 1;
        }
        let waiting = device.pending().unwrap();
        // The disk starts failing after `after` more writes.
        std::fs::write(&flag, b"").unwrap();
        match client.sync(&mut device, &token).await {
            Ok(_) => {}
            Err(ClientError::Server { status, message, .. }) => {
                failed += 1;
                assert_eq!(status, 503, "after {after} writes: {message}");
                assert!(
                    !message.contains('\n') && !message.contains("sqlx") && !message.contains("os error"),
                    "{message}"
                );
                assert_eq!(device.pending().unwrap(), waiting, "after {after} writes: nothing acknowledged");
            }
            Err(e) => panic!("after {after} writes: {e}"),
        }
        let health = sotay_client::http::plain_client().get(format!("{base}/healthz")).send().await.unwrap();
        assert!(health.status().is_success(), "the server stays up");
        // The disk works again: the same server stores everything.
        std::fs::remove_file(&flag).unwrap();
        client.sync(&mut device, &token).await.unwrap_or_else(|e| panic!("after {after} writes, recovering: {e}"));
        assert_eq!(device.pending().unwrap(), 0);
        drop(server);
        phone = Some((device, secret));
    }
    assert!(failed >= 3, "the injected faults failed {failed} syncs");
    let db = sotay_server::db::Db::open(&db_url).await.unwrap();
    let row =
        sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash), MAX(seq) FROM changes").fetch_one(&db.read).await.unwrap();
    let (count, distinct, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    println!("I/O errors: {made} changes made, {count} stored, {failed} syncs failed by the injected errors");
    assert_eq!((count as usize, distinct, max), (made, count, count), "every change stored once, sequence dense");
    let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&db.read).await.unwrap().get(0);
    assert_eq!(check, "ok");
    db.close().await;
}
