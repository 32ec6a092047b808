//! On PostgreSQL the tables that grow with the records are hash-partitioned by commune
//! (migration 0011), and every hot query names the commune, so it reads one partition. This test
//! holds the server to that from outside: three communes sync through a real server, then one
//! commune's phones push, edit and pull and its reviewer lists records, opens one and builds the
//! year's report, and PostgreSQL's own statistics (`pg_stat_user_tables`) must show that in that
//! phase no partition but that commune's was scanned, read or written.
//!
//! PostgreSQL writes a backend's statistics when the backend ends, so each phase ends by stopping
//! the server and waiting for its connections to close. The daily retention job, which looks at
//! every commune's closed cases, is switched off (`--gbv-history-retention-days 0`): it is the
//! one query that is meant to read every partition.
//!
//! Needs PostgreSQL (`SOTAY_TEST_POSTGRES_URL`); skipped with a message without it, unless
//! `SOTAY_REQUIRE_POSTGRES=1`.

mod common;

use common::{Instance, commune_with_codes, enrol_phone, fresh_postgres_database, one_village_with_codes};
use sotay_client::Client;
use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{CommuneId, Edit, sample};
use sqlx::{Connection, Row};
use std::collections::BTreeMap;

const NOW_MS: i64 = 1_795_651_200_000;
const TABLES: [&str; 5] = ["records", "record_facts", "changes", "pending_changes", "duplicate_pairs"];

/// Every partition's counters: scans, rows read by index, rows inserted, updated and deleted.
async fn counters(db_url: &str) -> BTreeMap<String, [i64; 5]> {
    let mut conn = sqlx::PgConnection::connect(db_url).await.unwrap();
    let rows = sqlx::query(
        "SELECT relname, seq_scan, COALESCE(idx_scan, 0), n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)])).collect()
}

/// Stops the server and waits until PostgreSQL has closed its connections (and so written their
/// statistics): an event in another process, polled.
async fn stop_and_flush(instance: Instance, db_url: &str) {
    instance.kill();
    all_closed(db_url).await;
}

/// Waits until no connection to the database is left.
async fn all_closed(db_url: &str) {
    let name = db_url.rsplit('/').next().unwrap().to_string();
    let admin = db_url.rsplit_once('/').unwrap().0.to_string() + "/test";
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for _ in 0..200 {
        let open: i64 = sqlx::query("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server's connections did not close");
}

async fn start(db_url: &str) -> Instance {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Instance::start_with(db_url, port, &["--gbv-history-retention-days", "0"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_communes_work_reads_and_writes_only_its_own_partition() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let (db, codes_a) = one_village_with_codes(&db_url, 2).await;
    let commune_a = CommuneId::from_slice(
        &sqlx::query("SELECT id FROM communes").fetch_one(&db.read).await.unwrap().get::<Vec<u8>, _>(0),
    )
    .unwrap();
    let reviewer =
        NewUser { username: "mai", display_name: "Mai", role: Role::Reviewer, commune: commune_a, village: None };
    let reviewer = admin::create_user(&db, reviewer).await.unwrap();
    admin::set_password(&db, reviewer, "mật-khẩu-đủ-dài").await.unwrap();
    // Other communes, with records of their own; each lands in some partition, most in another
    // than the first commune's.
    let mut others = Vec::new();
    for c in 0..6 {
        others.extend(commune_with_codes(&db, &format!("Xã {c}"), &format!("ctv{c}"), 1).await);
    }
    db.close().await;

    // Phase 1: every commune syncs records.
    let server = start(&db_url).await;
    let client = Client::new(&server.base).unwrap();
    for (i, code) in others.iter().chain(&codes_a[..1]).enumerate() {
        let (mut device, secret) = enrol_phone(&client, code).await;
        let token = client.token(device.identity().device, &secret).await.unwrap().access_token;
        for k in 0..3 {
            device.create(RecordKind::Activity, &sample::activity(i as u32 * 10 + k, 2026), NOW_MS).unwrap();
        }
        client.sync(&mut device, &token).await.unwrap();
    }
    stop_and_flush(server, &db_url).await;
    let mut conn = sqlx::PgConnection::connect(&db_url).await.unwrap();
    let own: String = sqlx::query("SELECT tableoid::regclass::text FROM records WHERE commune_id = $1 LIMIT 1")
        .bind(commune_a.as_bytes().as_slice())
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    let suffix = own.strip_prefix("records").unwrap().to_string();
    let in_other_partitions: i64 = sqlx::query("SELECT COUNT(*) FROM records WHERE tableoid::regclass::text <> $1")
        .bind(&own)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert!(in_other_partitions > 0, "the other communes all hashed to the first one's partition");
    conn.close().await.unwrap();
    all_closed(&db_url).await;
    let before = counters(&db_url).await;

    // Phase 2: only the first commune works.
    let server = start(&db_url).await;
    let client = Client::new(&server.base).unwrap();
    let (mut phone, secret) = enrol_phone(&client, &codes_a[1]).await;
    let token = client.token(phone.identity().device, &secret).await.unwrap().access_token;
    client.sync(&mut phone, &token).await.unwrap();
    let id = phone.create(RecordKind::Activity, &sample::activity(900, 2026), NOW_MS).unwrap();
    client.sync(&mut phone, &token).await.unwrap();
    let first = phone.list().unwrap()[0].id;
    phone.edit(first, &[Edit::AttendanceFemale(41)], NOW_MS + 1).unwrap();
    phone.edit(id, &[Edit::AttendanceMale(7)], NOW_MS + 2).unwrap();
    client.sync(&mut phone, &token).await.unwrap();
    let http = sotay_client::http::plain_client();
    let login = http
        .post(format!("{}/api/v1/login", server.base))
        .header("content-type", "application/json")
        .body(r#"{"username": "mai", "password": "mật-khẩu-đủ-dài"}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let login: serde_json::Value = serde_json::from_str(&login).unwrap();
    let bearer = login["access_token"].as_str().unwrap().to_string();
    for path in [
        "/api/v1/records?limit=50".to_string(),
        format!("/api/v1/records/{id}"),
        "/api/v1/reports?year=2026".to_string(),
        "/api/v1/duplicates".to_string(),
    ] {
        let resp = http.get(format!("{}{path}", server.base)).bearer_auth(&bearer).send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }
    stop_and_flush(server, &db_url).await;
    let after = counters(&db_url).await;

    let mut touched_own = 0;
    for table in TABLES {
        for p in 0..16 {
            let name = format!("{table}_{p}");
            let delta: Vec<i64> = (0..5).map(|k| after[&name][k] - before[&name][k]).collect();
            if format!("_{p}") == suffix {
                touched_own += delta.iter().sum::<i64>();
            } else {
                assert!(delta.iter().all(|&d| d == 0), "{name} was read or written for another commune: {delta:?}");
            }
        }
    }
    assert!(touched_own > 0, "the commune's own partitions show no work: the statistics were not written");
}
