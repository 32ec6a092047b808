//! Connection discipline on PostgreSQL: when every connection of an instance's pool is taken
//! (here: the readers stuck behind a table lock, as under a burst of slow queries), the requests
//! that cannot get one wait at most `--db-busy-timeout-ms` and answer 503 with `Retry-After` and
//! one clear sentence; none hangs until the phone gives up. Once the connections come back, the
//! same instance answers everyone again by itself. And a transaction whose connection is cut
//! under it is never reported committed (the group-commit writer's savepoints, `db::in_savepoint`).
//!
//! Needs PostgreSQL, like `multi_instance.rs`.

mod common;

use common::{Instance, enrol_phone, fresh_postgres_database, one_village_with_codes};
use sotay_client::Client;
use sotay_sync_core::wire;
use sqlx::{Connection, Row};
use std::time::{Duration, Instant};

const PHONES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_503_with_retry_after_and_recovers() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let (db, codes) = one_village_with_codes(&db_url, PHONES).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Instance::start_with(&db_url, port, &["--db-busy-timeout-ms", "500"]).await;
    let client = Client::new(&server.base).unwrap();
    let mut syncs = Vec::new();
    for code in &codes {
        let (device, secret) = enrol_phone(&client, code).await;
        let token = client.token(device.identity().device, &secret).await.unwrap().access_token;
        syncs.push((token, wire::encode(&device.prepare_sync(1 << 20).unwrap())));
    }
    let sync = |token: String, body: Vec<u8>| {
        let base = server.base.clone();
        async move {
            let response = common::post_sync(&base, &token, body).await;
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").is_some();
            (status, retry_after, response.text().await.unwrap_or_default())
        }
    };

    // Every pull reads the log: with the log locked, each sync that gets a reader keeps it.
    let mut holder = db.write.begin().await.unwrap();
    sqlx::query("LOCK TABLE changes IN ACCESS EXCLUSIVE MODE").execute(&mut *holder).await.unwrap();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (token, body) in &syncs {
        set.spawn(sync(token.clone(), body.clone()));
    }
    // Those that found no connection answer 503 soon, with Retry-After and a sentence; the
    // others hold the pool's readers. Three seconds without an answer means only those remain.
    let mut refused = 0;
    while let Ok(Some(answer)) = tokio::time::timeout(Duration::from_secs(3), set.join_next()).await {
        let (status, retry_after, body) = answer.unwrap();
        assert_eq!(status, 503, "no connection: {body}");
        assert!(retry_after, "503 says when to retry");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = json["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains('\n'), "one sentence: {message}");
        refused += 1;
    }
    let readers = sotay_server::db::READERS as usize;
    assert_eq!(refused, PHONES - readers, "every sync without a connection was answered, the others hold the readers");
    println!(
        "{refused} syncs answered 503 within {:.1} s while the pool was taken",
        started.elapsed().as_secs_f64() - 3.0
    );

    // The connections come back: those waiting finish, and everyone syncs again.
    holder.rollback().await.unwrap();
    while let Some(answer) = set.join_next().await {
        let (status, _, body) = answer.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    for (token, body) in syncs {
        let (status, _, answer) = sync(token, body).await;
        assert_eq!(status, 200, "the same instance recovered by itself: {answer}");
    }
    db.close().await;
}

/// The hazard behind the writer's "spoiled batch": a savepoint begun on a connection PostgreSQL
/// has cut. sqlx 0.9 then lowers the transaction's depth as if it had rolled back, so the
/// transaction's `commit` would send nothing and answer `Ok`; `in_savepoint` reports the
/// transaction spoiled instead, and the writer neither commits nor acknowledges the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_savepoint_on_a_cut_connection_spoils_the_transaction() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let db = sotay_server::db::Db::open(&db_url).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    let first = sotay_server::db::in_savepoint(&mut tx, |sp| {
        Box::pin(async move {
            sqlx::query("SELECT pg_backend_pid()").fetch_one(&mut **sp).await.map(|r| r.get::<i32, _>(0))
        })
    })
    .await;
    let pid = first.expect("the savepoint begins on a live connection").expect("the query runs");
    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url()).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut admin).await.unwrap();
    let second = sotay_server::db::in_savepoint(&mut tx, |_| Box::pin(async { Ok::<(), ()>(()) })).await;
    assert!(second.is_err(), "a savepoint on a cut connection spoils the transaction: {second:?}");
    let _ = tx.rollback().await;
    db.close().await;
}
