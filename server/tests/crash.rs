//! The crash loop (SPEC §4, §9): `kill -9` of the server at random moments while twenty phones
//! of one village sync at once, again and again, on both engines. Between kills the phones work
//! offline: new records, edits of records they share (so concurrent edits conflict), conflicts
//! resolved, records deleted. At the end every change made is stored exactly once, the log's
//! sequence numbers are dense, the database passes its integrity check (SQLite's, or PostgreSQL's
//! amcheck of every table and B-tree index), and every phone holds what the server holds.
//!
//! CI runs 50 kills per engine. The long run of `docs/reliability.md`:
//! `SOTAY_CRASH_KILLS=1000 cargo test -p sotay-server --test crash -- --nocapture`.

mod common;

use common::{Instance, Rng, one_village_with_codes};
use sotay_client::Client;
use sotay_sync_core::device::{Device, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, RecordId, RecordView, sample};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NOW_MS: i64 = 1_795_651_200_000;

struct Phone {
    device: Device<MemoryStore>,
    secret: String,
}

/// What a run showed.
#[derive(Debug)]
struct Figures {
    kills: usize,
    made: usize,
    stored: i64,
    distinct: i64,
    max_seq: i64,
}

fn kills() -> usize {
    std::env::var("SOTAY_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(50)
}

/// How many of the latest records the phones edit, resolve and delete: those of the last two
/// rounds. Looking only at them keeps a round's work the same however long the run, so the long
/// run's thousandth kill costs what its first did.
const RECENT: usize = 80;

/// Offline work on one phone in a round: returns how many changes it made. New records go to
/// `recent`, the ids of the latest records made by any phone.
fn work(phone: &mut Phone, round: usize, p: usize, rng: &mut Rng, recent: &mut Vec<RecordId>) -> usize {
    let before = phone.device.pending().unwrap();
    let now = NOW_MS + round as i64 * 1000;
    for k in 0..2 {
        let i = (round * 100 + p * 3 + k) as u32;
        recent.push(phone.device.create(RecordKind::Activity, &sample::activity(i, 2026), now).unwrap());
    }
    // The latest records this phone holds, its own and those it received from the others.
    let views: Vec<RecordView> = recent.iter().filter_map(|id| phone.device.view(*id).ok()).collect();
    let live: Vec<_> = views.iter().filter(|v| !v.deleted).collect();
    for k in 0..2 {
        if let Some(v) = live.get(rng.below(live.len())) {
            // The same few values on every phone: concurrent edits of one record conflict.
            let value = 100 + ((round + k) % 3) as u32;
            let _ = phone.device.edit(v.id, &[Edit::AttendanceMale(value)], now + 1);
        }
    }
    if let Some(v) = views.iter().find(|v| !v.conflicts.is_empty() && !v.deleted) {
        let c = &v.conflicts[0];
        let _ = phone.device.resolve(v.id, c.field, rng.below(c.values.len()), now + 2);
    }
    if rng.below(10) == 0
        && let Some(v) = live.get(rng.below(live.len()))
    {
        let _ = phone.device.delete(v.id, now + 3);
    }
    phone.device.pending().unwrap() - before
}

async fn crash_loop(db_url: &str, devices: usize, kills: usize, seed: u64) -> Figures {
    let (db, codes) = one_village_with_codes(db_url, devices).await;
    db.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Instance::start_on(db_url, port).await;
    let client = Client::new(&server.base).unwrap();
    let mut phones = Vec::new();
    for code in &codes {
        let (device, secret) = common::enrol_phone(&client, code).await;
        phones.push(Phone { device, secret });
    }
    let mut rng = Rng(seed);
    let mut made = 0;
    let mut recent = Vec::new();
    let loop_started = Instant::now();
    for round in 0..kills {
        for (p, phone) in phones.iter_mut().enumerate() {
            made += work(phone, round, p, &mut rng, &mut recent);
        }
        recent.drain(..recent.len().saturating_sub(RECENT));
        // Everyone syncs at once; the server is killed at a random moment in the middle.
        let tasks: Vec<_> = phones
            .drain(..)
            .map(|mut phone| {
                let client = Client::new(&server.base).unwrap();
                tokio::spawn(async move {
                    if let Ok(t) = client.token(phone.device.identity().device, &phone.secret).await {
                        let _ = client.sync(&mut phone.device, &t.access_token).await;
                    }
                    phone
                })
            })
            .collect();
        // Not waiting for an event: choosing a random instant to crash at, from the first
        // bytes of the syncs to after most of them have finished (so work gets through and the
        // phones do not only pile it up).
        tokio::time::sleep(Duration::from_millis(rng.next() % 1500)).await;
        server.kill();
        for t in tasks {
            phones.push(t.await.unwrap());
        }
        server = Instance::start_on(db_url, port).await;
        if (round + 1) % 100 == 0 {
            println!(
                "crash loop on {db_url}: {} kills, {made} changes made, {:.0} s",
                round + 1,
                loop_started.elapsed().as_secs_f64()
            );
        }
    }
    // After the last restart, everyone finishes and hears from everyone else.
    for _ in 0..3 {
        for phone in phones.iter_mut() {
            let t = client.token(phone.device.identity().device, &phone.secret).await.unwrap();
            client.sync(&mut phone.device, &t.access_token).await.unwrap();
        }
    }
    server.kill();

    for phone in &phones {
        assert_eq!(phone.device.pending().unwrap(), 0, "every change acknowledged");
        assert!(phone.device.rejected().unwrap().is_empty(), "nothing refused: {:?}", phone.device.rejected());
    }
    let db = sotay_server::db::Db::open(db_url).await.unwrap();
    let row =
        sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash), MAX(seq) FROM changes").fetch_one(&db.read).await.unwrap();
    let figures = Figures { kills, made, stored: row.get(0), distinct: row.get(1), max_seq: row.get(2) };
    if db.backend == sotay_server::db::Backend::Sqlite {
        let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&db.read).await.unwrap().get(0);
        assert_eq!(check, "ok", "the SQLite file is sound");
    } else {
        // PostgreSQL's own checks (amcheck): every table's heap, and every B-tree index against it.
        sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck").execute(&db.read).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
        )
        .fetch_one(&db.read)
        .await
        .unwrap();
        let corrupt: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname || ': ' || v.msg FROM pg_class c, LATERAL verify_heapam(c.oid) v
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'",
        )
        .fetch_all(&db.read)
        .await
        .unwrap();
        assert!(tables > 0 && corrupt.is_empty(), "{corrupt:?}");
        let indexes: i64 = sqlx::query_scalar(
            "SELECT COUNT(bt_index_check(c.oid, true)) FROM pg_class c JOIN pg_am am ON am.oid = c.relam
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'i' AND am.amname = 'btree'",
        )
        .fetch_one(&db.read)
        .await
        .unwrap();
        assert!(indexes > 0, "the indexes were checked");
    }
    // Every phone holds what the server holds: the same records at the same heads.
    let server_heads: BTreeMap<String, Vec<String>> = sqlx::query("SELECT view FROM records")
        .fetch_all(&db.read)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let v: sotay_sync_core::RecordView = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
            (v.id.to_string(), v.heads)
        })
        .collect();
    for phone in &phones {
        let heads: BTreeMap<String, Vec<String>> =
            phone.device.list().unwrap().into_iter().map(|v| (v.id.to_string(), v.heads)).collect();
        assert_eq!(heads, server_heads, "a phone converged with the server");
    }
    db.close().await;
    figures
}

fn check(engine: &str, f: &Figures, started: Instant) {
    println!(
        "crash loop on {engine}: {} kills, {} changes made, {} stored, lost {}, duplicated {}, {:.0} s",
        f.kills,
        f.made,
        f.stored,
        f.made as i64 - f.distinct,
        f.stored - f.distinct,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(f.stored as usize, f.made, "every change made is stored: none lost");
    assert_eq!(f.distinct, f.stored, "none stored twice");
    assert_eq!(f.max_seq, f.stored, "sequence numbers dense");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_phones_survive_repeated_kills_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let started = Instant::now();
    let f = crash_loop(&db_url, 20, kills(), 0x9e37_79b9_7f4a_7c15).await;
    check("SQLite", &f, started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_phones_survive_repeated_kills_on_postgres() {
    let Some(db_url) = common::fresh_postgres_database().await else { return };
    let started = Instant::now();
    let f = crash_loop(&db_url, 20, kills(), 0x2545_f491_4f6c_dd1d).await;
    check("PostgreSQL", &f, started);
}
