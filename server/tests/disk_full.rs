//! The server's disk fills up (SPEC §4, §9): SQLite on a small tmpfs the test mounts (as root;
//! skipped with the reason printed where mounting is impossible). While the disk is full a sync
//! is answered 503 with a clear error, nothing is acknowledged, and the server stays up; when space
//! returns, the phone's next sync stores everything, once.
//!
//! Its own test binary: it mounts a filesystem.

mod common;

use common::{Instance, one_village_with_codes};
use sotay_client::{Client, ClientError};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, sample};
use sqlx::Row;
use std::io::Write;
use std::process::Command;

const NOW_MS: i64 = 1_795_651_200_000;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with a file until it is full; returns the file.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xa5u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let small = vec![0xa5u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_acknowledges_nothing_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"]).arg(dir.path()).output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!("SKIPPED: cannot mount a tmpfs here ({})", String::from_utf8_lossy(&out.stderr).trim());
            return;
        }
        Err(e) => {
            println!("SKIPPED: cannot run mount ({e})");
            return;
        }
    }
    let _mount = Mount(dir.path().to_path_buf());
    let db_url = format!("sqlite://{}", dir.path().join("sotay.db").display());
    let (db, codes) = one_village_with_codes(&db_url, 1).await;
    db.close().await;
    let server = Instance::start(&db_url).await;
    let client = Client::new(&server.base).unwrap();
    let (mut phone, secret) = common::enrol_phone(&client, &codes[0]).await;
    let token = client.token(phone.identity().device, &secret).await.unwrap().access_token;
    // Some work stored while there is room.
    for i in 0..20 {
        phone.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS).unwrap();
    }
    client.sync(&mut phone, &token).await.unwrap();

    // The disk fills up; a day's work with long notes cannot be stored.
    let filler = fill(dir.path());
    let notes = "Ghi chú dài về buổi sinh hoạt câu lạc bộ. ".repeat(90);
    for i in 100..160 {
        let mut edits = sample::activity(i, 2026);
        edits.push(Edit::Notes(notes.clone()));
        phone.create(RecordKind::Activity, &edits, NOW_MS).unwrap();
    }
    let waiting = phone.pending().unwrap();
    match client.sync(&mut phone, &token).await {
        Err(ClientError::Server { status, message, .. }) => {
            assert_eq!(status, 503, "a full disk answers 503: {message}");
            assert!(!message.contains('\n') && message.contains("nothing was changed"), "{message}");
        }
        other => panic!("a sync on a full disk must fail with 503, not {other:?}"),
    }
    assert_eq!(phone.pending().unwrap(), waiting, "nothing acknowledged");
    let health = sotay_client::http::plain_client().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert!(health.status().is_success(), "the server stays up");

    // Space returns: the next sync stores everything, once.
    std::fs::remove_file(&filler).unwrap();
    client.sync(&mut phone, &token).await.unwrap();
    assert_eq!(phone.pending().unwrap(), 0);
    drop(server);
    let db = sotay_server::db::Db::open(&db_url).await.unwrap();
    let row = sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash) FROM changes").fetch_one(&db.read).await.unwrap();
    let (count, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((count, distinct), (80, 80), "every change stored once");
    let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&db.read).await.unwrap().get(0);
    assert_eq!(check, "ok");
    db.close().await;
}
