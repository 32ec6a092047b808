//! The server's disk fills up (SPEC §4, §9): SQLite on a small tmpfs the test mounts, and a
//! PostgreSQL database in a tablespace on such a tmpfs (as root; skipped with the reason printed
//! where mounting is impossible or, unless `SOTAY_REQUIRE_POSTGRES=1`, PostgreSQL is not there).
//! While the disk is full a sync is answered 503 with a clear error, nothing is acknowledged, and
//! the server stays up; when space returns, the phone's next sync stores everything, once.
//!
//! Its own test binary: it mounts filesystems.

mod common;

use common::{Instance, one_village_with_codes, postgres_admin_url};
use sotay_client::{Client, ClientError};
use sotay_sync_core::device::{Device, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, sample};
use sqlx::{Connection, Row};
use std::io::Write;
use std::process::Command;

const NOW_MS: i64 = 1_795_651_200_000;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` (as `mount -o size=`) at `dir`, or says why it cannot.
    fn tmpfs(dir: &std::path::Path, size: &str) -> Result<Mount, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount ({e})"))?;
        if out.status.success() {
            Ok(Mount(dir.to_path_buf()))
        } else {
            Err(format!("cannot mount a tmpfs here ({})", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process holding a file there): detached now, freed when it lets go.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
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

/// Syncs `phone` on a full disk: the sync must fail with 503 and a one-line "nothing was changed",
/// acknowledging nothing, and the server must stay up. Returns the message.
async fn sync_refused(client: &Client, phone: &mut Device<MemoryStore>, token: &str, base: &str) -> String {
    let waiting = phone.pending().unwrap();
    let message = match client.sync(phone, token).await {
        Err(ClientError::Server { status, message, .. }) => {
            assert_eq!(status, 503, "a full disk answers 503: {message}");
            assert!(!message.contains('\n') && message.contains("nothing was changed"), "{message}");
            assert!(!message.contains("sqlx"), "no internals in the answer: {message}");
            message
        }
        other => panic!("a sync on a full disk must fail with 503, not {other:?}"),
    };
    assert_eq!(phone.pending().unwrap(), waiting, "nothing acknowledged");
    let health = sotay_client::http::plain_client().get(format!("{base}/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "the server stays up");
    message
}

/// A server on `db_url` and a phone of its one village that has stored 20 records there while
/// there was room: the server, a client for it, the phone and its token.
async fn a_phone_with_work_stored(db_url: &str) -> (Instance, Client, Device<MemoryStore>, String) {
    let (db, codes) = one_village_with_codes(db_url, 1).await;
    db.close().await;
    let server = Instance::start(db_url).await;
    let client = Client::new(&server.base).unwrap();
    let (mut phone, secret) = common::enrol_phone(&client, &codes[0]).await;
    let token = client.token(phone.identity().device, &secret).await.unwrap().access_token;
    for i in 0..20 {
        phone.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS).unwrap();
    }
    client.sync(&mut phone, &token).await.unwrap();
    (server, client, phone, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_acknowledges_nothing_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let _mount = match Mount::tmpfs(dir.path(), "24m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let db_url = format!("sqlite://{}", dir.path().join("sotay.db").display());
    let (server, client, mut phone, token) = a_phone_with_work_stored(&db_url).await;

    // The disk fills up; a day's work with long notes cannot be stored.
    let filler = fill(dir.path());
    let notes = "Ghi chú dài về buổi sinh hoạt câu lạc bộ. ".repeat(90);
    for i in 100..160 {
        let mut edits = sample::activity(i, 2026);
        edits.push(Edit::Notes(notes.clone()));
        phone.create(RecordKind::Activity, &edits, NOW_MS).unwrap();
    }
    sync_refused(&client, &mut phone, &token, &server.base).await;

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

/// A PostgreSQL tablespace on a tmpfs and a database in it: the database and the tablespace are
/// dropped, then the tmpfs unmounted, when this is dropped (even when the test fails).
struct PgOnTmpfs {
    admin_url: String,
    tablespace: Option<String>,
    database: Option<String>,
    /// Unmounted after `drop` has run.
    _mount: Mount,
}

impl Drop for PgOnTmpfs {
    fn drop(&mut self) {
        let (admin_url, tablespace, database) = (self.admin_url.clone(), self.tablespace.take(), self.database.take());
        // `drop` cannot await and runs on the test's runtime: a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.map_err(|e| e.to_string())?;
                let mut statements = Vec::new();
                // WITH (FORCE): a server process left over by a failed test must not keep it.
                statements.extend(database.map(|d| format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)")));
                statements.extend(tablespace.map(|t| format!("DROP TABLESPACE IF EXISTS {t}")));
                for sql in statements {
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .execute(&mut conn)
                        .await
                        .map_err(|e| format!("{sql}: {e}"))?;
                }
                conn.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: the full-disk test's database or tablespace was not dropped: {e}");
        }
    }
}

/// Notes of `chars` characters that do not compress (PostgreSQL compresses long values, and
/// repeated text would fit in the pages it already has): letters and spaces drawn at random.
fn random_notes(rng: &mut common::Rng, chars: usize) -> String {
    let alphabet: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxy      ".chars().collect();
    (0..chars).map(|_| alphabet[rng.below(alphabet.len())]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_postgres_tablespace_answers_503_acknowledges_nothing_and_recovers() {
    let started = std::time::Instant::now();
    let admin_url = postgres_admin_url();
    let required = std::env::var("SOTAY_REQUIRE_POSTGRES").as_deref() == Ok("1");
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if !required => {
            println!(
                "SKIPPED: PostgreSQL not reachable at {admin_url} ({e}); set SOTAY_REQUIRE_POSTGRES=1 to fail instead"
            );
            return;
        }
        Err(e) => panic!("PostgreSQL is required (SOTAY_REQUIRE_POSTGRES=1) but {admin_url} is not reachable: {e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let mount = match Mount::tmpfs(dir.path(), "32m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    // PostgreSQL runs as its own user and keeps a tablespace in a directory that user owns.
    match Command::new("chown").arg("postgres:postgres").arg(dir.path()).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "SKIPPED: cannot give the tmpfs to user postgres ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("SKIPPED: cannot run chown ({e})");
            return;
        }
    }
    let mut pg = PgOnTmpfs { admin_url: admin_url.clone(), tablespace: None, database: None, _mount: mount };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let tablespace = format!("sotay_full_{suffix}");
    let location = dir.path().display().to_string().replace('\'', "''");
    let create = format!("CREATE TABLESPACE {tablespace} LOCATION '{location}'");
    match sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut admin).await {
        Ok(_) => pg.tablespace = Some(tablespace.clone()),
        // A PostgreSQL on another machine cannot see this one's tmpfs.
        Err(e) if !required => {
            println!("SKIPPED: PostgreSQL cannot put a tablespace on {location} ({e})");
            return;
        }
        Err(e) => panic!("PostgreSQL cannot put a tablespace on {location}: {e}"),
    }
    // The whole database in the tablespace (its catalogs too); the WAL stays in the data directory.
    let database = format!("sotay_t_{suffix}");
    let create = format!("CREATE DATABASE {database} TABLESPACE {tablespace}");
    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut admin).await.unwrap();
    pg.database = Some(database.clone());
    let db_url = format!("{}/{database}", admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b));

    let (server, client, mut phone, token) = a_phone_with_work_stored(&db_url).await;
    // Every page the database has, written out to the tmpfs first: CREATE DATABASE copies the
    // template's pages through shared buffers into files with holes, and writing those later into
    // the full disk would fail too. After the checkpoint only new pages need space.
    sqlx::query("CHECKPOINT").execute(&mut admin).await.unwrap();

    // The disk fills up. PostgreSQL itself can no longer extend a table there: `disk_full`, 53100.
    let filler = fill(dir.path());
    let filler_bytes = std::fs::metadata(&filler).unwrap().len();
    let mut probe = sqlx::PgConnection::connect(&db_url).await.unwrap();
    let probed =
        sqlx::query("CREATE TABLE full_disk_probe AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g")
            .execute(&mut probe)
            .await
            .expect_err("a table cannot grow on a full tablespace");
    let code = probed.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("53100"), "PostgreSQL reports disk_full: {probed}");
    probe.close().await.unwrap();

    // A day's work with long notes (about 100 KiB, in one request): far more than the free space
    // in the pages the tables already have (a few pages of 20 small records), so storing it needs
    // new pages.
    let mut rng = common::Rng(0x5eed_f011);
    let mut notes_bytes = 0;
    for i in 100..160 {
        let mut edits = sample::activity(i, 2026);
        let notes = random_notes(&mut rng, 1500);
        notes_bytes += notes.len();
        edits.push(Edit::Notes(notes));
        phone.create(RecordKind::Activity, &edits, NOW_MS).unwrap();
    }
    let waiting = phone.pending().unwrap();
    let message = sync_refused(&client, &mut phone, &token, &server.base).await;
    // The failed transaction was rolled back and its connection is fit for use: the same again is
    // refused the same way (not 500, not a stuck connection).
    sync_refused(&client, &mut phone, &token, &server.base).await;
    let refused = 2;

    // Space returns: the next sync stores everything, once.
    std::fs::remove_file(&filler).unwrap();
    client.sync(&mut phone, &token).await.unwrap();
    assert_eq!(phone.pending().unwrap(), 0);
    drop(server);
    let mut conn = sqlx::PgConnection::connect(&db_url).await.unwrap();
    // The change log's key is (commune_id, seq): one commune's sequence numbers are dense from 1.
    let row =
        sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash), COALESCE(MAX(seq), 0) FROM changes WHERE commune_id = $1")
            .bind(phone.identity().commune.as_bytes().as_slice())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let (count, distinct, max_seq): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((count, distinct, max_seq), (80, 80, 80), "every change stored once, sequence numbers dense");
    conn.close().await.unwrap();
    admin.close().await.unwrap();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "PostgreSQL full disk: 32 MiB tmpfs, {:.1} MiB filled by the filler; probe failed with {}; {waiting} \
         changes waiting with {} KiB of notes, {refused} syncs answered 503 (\"{message}\"), 0 acknowledged; \
         after the filler was removed: {count} changes stored, {distinct} distinct, max seq {max_seq}; {:.1} s",
        mib(filler_bytes),
        code.unwrap_or_default(),
        notes_bytes / 1024,
        started.elapsed().as_secs_f64()
    );
}
