//! PostgreSQL failing under a running server (SPEC §4, §9): the server's connections cut by
//! PostgreSQL (`pg_terminate_backend`) and PostgreSQL restarted, while phones sync. A sync caught
//! by a fault fails with 503 and a clear error (or its connection drops); nothing acknowledged is
//! lost or stored twice; the server recovers by itself, without a restart of its own.
//!
//! Its own test binary: restarting PostgreSQL must not disturb other tests, and test binaries run
//! one after another.

mod common;

use common::{Instance, one_village_with_codes, postgres_admin_url};
use sotay_client::{Client, ClientError};
use sotay_sync_core::device::{Device, MemoryStore};
use sotay_sync_core::sample;
use sotay_sync_core::schema::RecordKind;
use sqlx::{Connection, Row};
use std::time::Duration;

const NOW_MS: i64 = 1_795_651_200_000;

struct Phone {
    device: Device<MemoryStore>,
    secret: String,
}

/// Syncs every phone at once; returns the statuses of the syncs that failed with an answer.
async fn sync_all(base: &str, phones: &mut Vec<Phone>, fault: impl std::future::Future<Output = ()>) -> Vec<u16> {
    let tasks: Vec<_> = phones
        .drain(..)
        .map(|mut phone| {
            let client = Client::new(base).unwrap();
            tokio::spawn(async move {
                let result = match client.token(phone.device.identity().device, &phone.secret).await {
                    Ok(t) => client.sync(&mut phone.device, &t.access_token).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                (phone, result)
            })
        })
        .collect();
    fault.await;
    let mut statuses = Vec::new();
    for t in tasks {
        let (phone, result) = t.await.unwrap();
        if let Err(ClientError::Server { status, message, .. }) = &result {
            assert!(!message.is_empty() && !message.contains('\n'), "a clear error: {message}");
            statuses.push(*status);
        }
        phones.push(phone);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_and_a_restarted_postgres_lose_nothing_acknowledged() {
    let Some(db_url) = common::fresh_postgres_database().await else { return };
    let db_name = db_url.rsplit('/').next().unwrap().to_string();
    let (db, codes) = one_village_with_codes(&db_url, 4).await;
    db.close().await;
    let server = Instance::start(&db_url).await;
    let client = Client::new(&server.base).unwrap();
    let mut phones = Vec::new();
    for code in &codes {
        let (device, secret) = common::enrol_phone(&client, code).await;
        phones.push(Phone { device, secret });
    }
    let mut made = 0usize;
    let mut failures = Vec::new();

    // 1. The server's connections cut while phones sync, ten times.
    for round in 0..10u32 {
        for (p, phone) in phones.iter_mut().enumerate() {
            for k in 0..5u32 {
                let i = round * 100 + p as u32 * 10 + k;
                phone.device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS).unwrap();
                made += 1;
            }
        }
        let cut = async {
            // Not waiting for an event: cutting at some instant of the syncs.
            tokio::time::sleep(Duration::from_millis(u64::from(round) * 7 % 40)).await;
            let mut admin = sqlx::PgConnection::connect(&postgres_admin_url()).await.unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&db_name)
            .execute(&mut admin)
            .await
            .unwrap();
        };
        failures.extend(sync_all(&server.base, &mut phones, cut).await);
    }

    // 2. PostgreSQL itself restarted while phones sync (where this machine can: root, a local
    // cluster).
    let cluster = std::fs::read_dir("/etc/postgresql").ok().and_then(|mut d| d.next()).and_then(|e| e.ok());
    match cluster {
        Some(version) if std::env::var("USER").as_deref() != Ok("nobody") => {
            let version = version.file_name().to_string_lossy().to_string();
            for phone in phones.iter_mut() {
                for k in 0..5u32 {
                    phone.device.create(RecordKind::Activity, &sample::activity(9000 + k, 2026), NOW_MS).unwrap();
                    made += 1;
                }
            }
            let restart = async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let version = version.clone();
                let status = tokio::task::spawn_blocking(move || {
                    std::process::Command::new("pg_ctlcluster")
                        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
                        .status()
                })
                .await
                .unwrap();
                assert!(status.is_ok_and(|s| s.success()), "restarting PostgreSQL");
            };
            failures.extend(sync_all(&server.base, &mut phones, restart).await);
        }
        _ => println!("SKIPPED the PostgreSQL restart: no local cluster under /etc/postgresql to restart"),
    }
    for status in &failures {
        assert_eq!(*status, 503, "a sync caught by a database fault answers 503, not {status}");
    }

    // 3. The same server, not restarted, serves again; every phone finishes.
    let http = sotay_client::http::plain_client();
    let mut ready = false;
    for _ in 0..300 {
        if http.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server recovered by itself");
    for _ in 0..2 {
        for phone in phones.iter_mut() {
            let t = client.token(phone.device.identity().device, &phone.secret).await.unwrap();
            client.sync(&mut phone.device, &t.access_token).await.unwrap();
            assert_eq!(phone.device.pending().unwrap(), 0);
        }
    }
    let db = sotay_server::db::Db::open(&db_url).await.unwrap();
    let row =
        sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash), MAX(seq) FROM changes").fetch_one(&db.read).await.unwrap();
    let (count, distinct, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    println!("PostgreSQL faults: {made} changes made, {count} stored, {} syncs failed with 503", failures.len());
    assert_eq!(count as usize, made, "every change made is stored: none lost");
    assert_eq!(distinct, count, "none stored twice");
    assert_eq!(max, count, "sequence numbers dense");
    db.close().await;
}
