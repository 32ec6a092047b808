//! A phone whose storage fails writes (SPEC §4, §9; the phone's side of `io_errors.rs`): the
//! phone library runs in a child process under the `LD_PRELOAD` shim of `faults/failing_io.c`,
//! which makes every write and sync to the phone store's directory fail with EIO after the Nth,
//! for several N, while the phone edits, creates and syncs (pushing its own work and storing what
//! another phone of its village sent). Every edit the phone reported as done is in its store; every
//! failure is one clear sentence; the store passes SQLite's integrity check; once writes work
//! again the same process edits and syncs on, and, opened again, the two phones converge.
//!
//! The child is this test binary run again with `SOTAY_PHONE_CHILD` set (a shim is preloaded into
//! a whole process, so the phone cannot share the test's); it reports on stdout, one line per step.

mod common;

use common::{Instance, one_village_with_codes};
use sotay_client::store::PhoneKey;
use sotay_client::{ClientConfig, ClientError, Session, SqliteStore, SyncOptions};
use sotay_sync_core::schema::{Lang, RecordKind};
use sotay_sync_core::{Edit, RecordView, sample};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const TEST: &str = "a_phone_whose_disk_fails_acknowledges_only_what_it_stored_and_recovers";
const NOW_MS: i64 = 1_795_651_200_000;
const KEY: [u8; 32] = [0x5a; 32];

fn open(dir: &Path) -> Result<SqliteStore, ClientError> {
    Ok(SqliteStore::open(&dir.join("phone.db"), Some(&PhoneKey::from_bytes(KEY)))?)
}

/// One line a person would read: no line breaks, no library names.
fn said(e: ClientError) -> String {
    let text = e.message(Lang::Vi);
    assert!(!text.contains('\n') && !text.contains("rusqlite") && !text.contains("os error"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_disk_fails_acknowledges_only_what_it_stored_and_recovers() {
    if std::env::var_os("SOTAY_PHONE_CHILD").is_some() {
        return phone_on_a_failing_disk().await;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(shim) = common::io_fault_shim(work.path()) else { return };
    let db_url = format!("sqlite://{}", work.path().join("sotay.db").display());
    let runs = [0u32, 3, 10, 40, 120];
    let (db, codes) = one_village_with_codes(&db_url, 2 * runs.len()).await;
    db.close().await;
    let server = Instance::start(&db_url).await;
    let mut refused = 0;
    for (run, after) in runs.into_iter().enumerate() {
        let (failing, healthy) =
            (work.path().join(format!("failing-{run}")), work.path().join(format!("healthy-{run}")));
        std::fs::create_dir(&failing).unwrap();
        std::fs::create_dir(&healthy).unwrap();
        let flag = work.path().join(format!("disk-failing-{run}"));
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("SOTAY_PHONE_CHILD", "1")
            .env("LD_PRELOAD", &shim)
            .env("SOTAY_FAIL_DIR", &failing)
            .env("SOTAY_FAIL_FLAG", &flag)
            .env("SOTAY_FAIL_WRITES_AFTER", after.to_string())
            .env("SOTAY_CHILD_SERVER", &server.base)
            .env("SOTAY_CHILD_CODES", format!("{} {}", codes[2 * run], codes[2 * run + 1]))
            .env("SOTAY_CHILD_DIRS", format!("{} {}", failing.display(), healthy.display()))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "after {after} writes the phone failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("phone: ")).collect();
        assert_eq!(lines.last(), Some(&"done"), "after {after} writes:\n{stdout}");

        // What the phone said it did is on its disk, and its store is sound.
        let phone = Session::open(open(&failing).unwrap(), ClientConfig::default()).unwrap();
        let mine: BTreeMap<_, RecordView> = phone.device().list().unwrap().into_iter().map(|v| (v.id, v)).collect();
        let mut edits: Vec<(bool, i64)> = Vec::new();
        let mut edited = None;
        for line in &lines {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["created", id] => assert!(mine.keys().any(|k| k.to_string() == id), "after {after}: {id} lost"),
                ["edited", id, value] => {
                    edited = Some(id.to_string());
                    edits.push((true, value.parse().unwrap()));
                }
                ["refused", "edit", value, ..] => edits.push((false, value.trim_end_matches(':').parse().unwrap())),
                _ => {}
            }
            refused += usize::from(line.starts_with("refused"));
        }
        let done = lines.len() - 1 - lines.iter().filter(|l| l.starts_with("refused")).count();
        println!(
            "after {after} writes: {done} steps done, then {}",
            lines.iter().find(|l| l.starts_with("refused")).unwrap_or(&"none refused")
        );
        // The last edit confirmed is kept, unless a later one that reported a failure was stored
        // after all (a failed commit may or may not have reached the disk; a confirmed one has).
        if let (Some(id), Some(last_ok)) = (edited, edits.iter().rposition(|(ok, _)| *ok)) {
            let kept = mine.values().find(|v| v.id.to_string() == id).unwrap().attendance_male;
            assert!(
                edits[last_ok..].iter().any(|(_, v)| kept == Some(*v)),
                "after {after} writes: {kept:?} kept, edits {edits:?}"
            );
        }
        let check = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", failing.join("phone.db").display()))
            .await
            .unwrap();
        let verdict: String = sqlx::query("PRAGMA integrity_check").fetch_one(&check).await.unwrap().get(0);
        assert_eq!(verdict, "ok", "after {after} writes");
        check.close().await;

        // Opened again, it sends what it holds, and the two phones of the village converge.
        let (mut a, mut b) = (phone, Session::open(open(&healthy).unwrap(), ClientConfig::default()).unwrap());
        let options = SyncOptions::default();
        a.sync(&options).await.unwrap();
        b.sync(&options).await.unwrap();
        a.sync(&options).await.unwrap();
        assert_eq!(a.device().pending().unwrap(), 0, "after {after} writes");
        let views = |s: &Session| -> BTreeMap<_, RecordView> {
            s.device().list().unwrap().into_iter().map(|v| (v.id, v)).collect()
        };
        assert_eq!(views(&a), views(&b), "after {after} writes the phones converge");
    }
    println!("phone I/O errors: {} runs, {refused} steps refused by the failing disk", runs.len());
    assert!(refused >= 5, "the injected faults refused {refused} steps");
}

/// The child: phone A on the failing disk, phone B beside it on a healthy one (the shim only
/// fails A's directory), both of one village.
async fn phone_on_a_failing_disk() {
    let var = |name: &str| std::env::var(name).unwrap();
    let (server, codes, dirs) = (var("SOTAY_CHILD_SERVER"), var("SOTAY_CHILD_CODES"), var("SOTAY_CHILD_DIRS"));
    let (codes, dirs): (Vec<&str>, Vec<&Path>) = (codes.split(' ').collect(), dirs.split(' ').map(Path::new).collect());
    let options = SyncOptions::default();
    let config = ClientConfig::default();
    let mut a = Session::enrol(open(dirs[0]).unwrap(), &server, codes[0], "a", config.clone(), &options).await.unwrap();
    let mut b = Session::enrol(open(dirs[1]).unwrap(), &server, codes[1], "b", config, &options).await.unwrap();
    for k in 0..5 {
        a.device_mut().create(RecordKind::Activity, &sample::activity(k, 2026), NOW_MS).unwrap();
    }
    a.sync(&options).await.unwrap();
    let first = a.device().list().unwrap()[0].id;

    // The disk starts failing after N more writes.
    std::fs::write(var("SOTAY_FAIL_FLAG"), b"").unwrap();
    for k in 0..16u32 {
        match a.device_mut().create(RecordKind::Activity, &sample::activity(100 + k, 2026), NOW_MS + i64::from(k)) {
            Ok(id) => println!("phone: created {id}"),
            Err(e) => println!("phone: refused create: {}", said(e.into())),
        }
        match a.device_mut().edit(first, &[Edit::AttendanceMale(k)], NOW_MS + i64::from(k)) {
            Ok(_) => println!("phone: edited {first} {k}"),
            Err(e) => println!("phone: refused edit {k}: {}", said(e.into())),
        }
        if k % 4 == 3 {
            // What the other phone sends arrives while this one cannot write.
            b.device_mut().create(RecordKind::Activity, &sample::activity(200 + k, 2026), NOW_MS).unwrap();
            b.sync(&options).await.unwrap();
            match a.sync(&options).await {
                Ok(_) => println!("phone: synced"),
                Err(e) => println!("phone: refused sync: {}", said(e)),
            }
        }
    }

    // Writes work again: the same process, with the same store, carries on.
    std::fs::remove_file(var("SOTAY_FAIL_FLAG")).unwrap();
    let id = a.device_mut().create(RecordKind::Activity, &sample::activity(300, 2026), NOW_MS).unwrap();
    println!("phone: created {id}");
    a.sync(&options).await.unwrap();
    println!("phone: done");
}
