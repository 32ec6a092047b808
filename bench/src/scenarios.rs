//! The scenarios of SPEC §8, each on a fresh database and a fresh server process.

use crate::Args;
use crate::figures::{Figure, Goal, Printer};
use crate::harness::{
    NOW_MS, Server, Setup, create_activities, edit_round_trips, enrol, setup, setup_on, sync_all_at_once, wanted,
};
use sotay_client::Client;
use sotay_sync_core::device::DeviceStore;
use sotay_sync_core::{Edit, Record, RecordId};
use sqlx::Row;
use std::time::{Duration, Instant};

/// Runs every scenario.
pub async fn run_all(args: &Args) -> anyhow::Result<()> {
    let mut out = Printer::new(args.json);
    let started = Instant::now();
    if wanted(args, "ingest") {
        ingest(args, &mut out).await?;
    }
    if wanted(args, "village") {
        village(args, &mut out).await?;
    }
    if wanted(args, "scale") {
        scale(args, &mut out).await?;
    }
    if wanted(args, "concurrent") {
        concurrent(args, &mut out).await?;
    }
    if wanted(args, "phone") {
        crate::phone::phone(args, &mut out).await?;
    }
    if wanted(args, "report") {
        crate::reports::reports(args, &mut out).await?;
    }
    // Three scenarios (province-ingest, province-size, province-load), each chosen by its name.
    crate::province::province(args, &mut out).await?;
    let failed: Vec<&str> = out.all.iter().filter(|f| f.pass == Some(false)).map(|f| f.name.as_str()).collect();
    if !args.json {
        println!(
            "\n{} figures, {} with targets, {} missed{}; {:.0} s{}",
            out.all.len(),
            out.all.iter().filter(|f| f.pass.is_some()).count(),
            failed.len(),
            if failed.is_empty() { String::new() } else { format!(" ({})", failed.join("; ")) },
            started.elapsed().as_secs_f64(),
            if args.quick { ", --quick sizes" } else { "" }
        );
    }
    Ok(())
}

/// Ingest of new records from 10 devices at once (10 villages), against the raw
/// merge-plus-insert limit.
async fn ingest(args: &Args, out: &mut Printer) -> anyhow::Result<()> {
    let (devices, per) = if args.quick { (10, 200) } else { (10, 1000) };
    let total = devices * per;
    // The same push without looking for suspected duplicates, for what that costs.
    let (bare_secs, _, _, _) = ingest_once(devices, per, false).await?;
    let (secs, errors, missing, changes) = ingest_once(devices, per, true).await?;
    let rate = total as f64 / secs;
    out.print(
        Figure::target(
            "ingest time added by duplicate detection",
            (secs / bare_secs - 1.0).max(0.0) * 100.0,
            "%",
            Goal::AtMost,
            10.0,
        )
        .with_limit(total as f64 / bare_secs),
    );
    let (merge_rate, raw_rate) = raw_limits(&changes).await?;
    out.print(Figure::info("Automerge in-memory merge (load change, project, save), all cores", merge_rate, "rec/s"));
    out.print(Figure::info("raw limit: that merge + SQLite inserts of the same bytes", raw_rate, "rec/s"));
    out.print(
        Figure::target(
            format!("ingest of new records, {devices} devices, SQLite"),
            rate,
            "rec/s",
            Goal::AtLeast,
            5000.0,
        )
        .with_limit(raw_rate),
    );
    out.print(Figure::target("ingest as a share of the raw limit", rate / raw_rate, "ratio", Goal::AtLeast, 0.5));
    if !args.quick {
        out.print(Figure::target(
            "10 devices × 1,000 new records converged on the server",
            secs,
            "s",
            Goal::AtMost,
            7.0,
        ));
    } else {
        out.print(Figure::info(format!("{devices} devices × {per} new records converged on the server"), secs, "s"));
    }
    out.print(Figure::target(
        "ingest errors and records missing",
        (errors as i64 + missing.max(0)) as f64,
        "count",
        Goal::AtMost,
        0.0,
    ));
    Ok(())
}

/// One ingest run: the seconds to push every device's records, errors, records missing, and
/// the change bytes pushed.
async fn ingest_once(devices: usize, per: usize, detect: bool) -> anyhow::Result<(f64, usize, i64, Vec<Vec<u8>>)> {
    // One phone in each of ten villages: each pushes its own records (a phone does not receive
    // another village's, so this measures the server's ingest, not phones applying downloads).
    let s = setup(devices, 1).await?;
    let server = Server::start_with(&s.db_url, detect)?;
    let http = sotay_client::http::plain_client();
    let mut sims = Vec::new();
    for (d, code) in s.codes.iter().map(|c| &c[0]).enumerate() {
        let mut sim = enrol(&http, &server.base, code).await?;
        sim.sync().await?; // provisioned, as a phone in service is
        create_activities(&mut sim, (d * per) as u32, per as u32)?;
        sims.push(sim);
    }
    let changes: Vec<Vec<u8>> = sims
        .iter()
        .flat_map(|s| s.device.store().outbox(usize::MAX).unwrap_or_else(|e| match e {}))
        .map(|e| e.change)
        .collect();
    let t = Instant::now();
    let tasks: Vec<_> = sims.into_iter().map(|mut sim| tokio::spawn(async move { sim.sync().await })).collect();
    let mut errors = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(_))) {
            errors += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    server.stop();
    let stored: i64 = {
        let db = sotay_server::db::Db::open(&s.db_url).await?;
        let n = sqlx::query("SELECT COUNT(*) FROM records").fetch_one(&db.read).await?.get(0);
        db.close().await;
        n
    };
    Ok((secs, errors, (devices * per) as i64 - stored, changes))
}

/// A record merged by the raw-limit loop: id, saved document, projection JSON, its change.
type Merged = (RecordId, Vec<u8>, String, Vec<u8>);

/// The same work without HTTP, sync protocol or server, on every core like the server:
/// Automerge alone (load the change, project, save), then Automerge plus plain SQLite inserts of
/// the same bytes (one transaction, same durability settings).
async fn raw_limits(changes: &[Vec<u8>]) -> anyhow::Result<(f64, f64)> {
    let merge_all = || -> anyhow::Result<Vec<Merged>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = changes.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = changes
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|c| {
                                let mut r = Record::from_changes(std::slice::from_ref(c), None)?;
                                let view = serde_json::to_string(&r.view())?;
                                Ok((r.id(), r.save(), view, c.clone()))
                            })
                            .collect::<anyhow::Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(changes.len());
            for h in handles {
                out.extend(h.join().map_err(|_| anyhow::anyhow!("merge thread panicked"))??);
            }
            Ok(out)
        })
    };
    let t = Instant::now();
    merge_all()?;
    let merge_rate = changes.len() as f64 / t.elapsed().as_secs_f64();

    let dir = tempfile::tempdir()?;
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("raw.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
    sqlx::query("CREATE TABLE docs (id BLOB PRIMARY KEY, doc BLOB NOT NULL, view TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL, bytes BLOB NOT NULL)")
        .execute(&pool)
        .await?;
    let t = Instant::now();
    let docs = merge_all()?;
    // Plain inserts, 64 rows per statement (the best the engine does through sqlx).
    let mut tx = pool.begin().await?;
    for chunk in docs.chunks(64) {
        let rows = |n: usize| {
            vec!["(?, ?)"; chunk.len()].join(", ").replace("(?, ?)", &format!("({})", vec!["?"; n].join(", ")))
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO log (record, bytes) VALUES {}", rows(2))));
        for (id, _, _, change) in chunk {
            q = q.bind(id.as_bytes().as_slice()).bind(change.as_slice());
        }
        q.execute(&mut *tx).await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO docs (id, doc, view) VALUES {}", rows(3))));
        for (id, doc, view, _) in chunk {
            q = q.bind(id.as_bytes().as_slice()).bind(doc.as_slice()).bind(view.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let raw_rate = changes.len() as f64 / t.elapsed().as_secs_f64();
    pool.close().await;
    Ok((merge_rate, raw_rate))
}

/// A village of 5,000 records: provisioning a new phone, a no-op sync, a one-field edit, new records.
async fn village(args: &Args, out: &mut Printer) -> anyhow::Result<()> {
    let n = if args.quick { 1000 } else { 5000 };
    let s = setup(1, 2).await?;
    let server = Server::start(&s.db_url)?;
    let http = sotay_client::http::plain_client();
    let mut a = enrol(&http, &server.base, &s.codes[0][0]).await?;
    let ids = create_activities(&mut a, 0, n)?;
    a.sync().await?;

    let mut b = enrol(&http, &server.base, &s.codes[0][1]).await?;
    let t = Instant::now();
    let r = b.sync().await?;
    let secs = t.elapsed().as_secs_f64();
    let bytes = (r.wire.request_bytes + r.wire.response_bytes) as f64;
    let label = format!("{n}-record village");
    out.print(Figure::target(format!("provisioning a new phone, {label}: time"), secs, "s", Goal::AtMost, 3.0));
    out.print(Figure::target(
        format!("provisioning a new phone, {label}: bytes"),
        bytes,
        "B",
        Goal::AtMost,
        3_000_000.0,
    ));
    out.print(Figure::info(format!("provisioning a new phone, {label}: round trips"), r.round_trips as f64, "count"));

    let t = Instant::now();
    let r = b.sync().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    out.print(Figure::target(
        format!("sync with nothing new, {label}: round trips"),
        r.round_trips as f64,
        "count",
        Goal::AtMost,
        1.0,
    ));
    out.print(Figure::target(
        format!("sync with nothing new, {label}: bytes"),
        (r.wire.request_bytes + r.wire.response_bytes) as f64,
        "B",
        Goal::AtMost,
        1024.0,
    ));
    out.print(Figure::info(format!("sync with nothing new, {label}: latency"), ms, "ms"));

    a.sync().await?;
    a.device.edit(ids[17], &[Edit::AttendanceFemale(99)], NOW_MS + 1)?;
    let r = a.sync().await?;
    out.print(Figure::target(
        "a one-field edit on the wire",
        (r.wire.request_bytes + r.wire.response_bytes) as f64,
        "B",
        Goal::AtMost,
        300.0,
    ));
    create_activities(&mut a, 100_000, 1)?;
    let r = a.sync().await?;
    out.print(Figure::target(
        "a new activity record on the wire alone",
        (r.wire.request_bytes + r.wire.response_bytes) as f64,
        "B",
        Goal::AtMost,
        700.0,
    ));
    create_activities(&mut a, 200_000, 100)?;
    let r = a.sync().await?;
    out.print(Figure::target(
        "a new activity record in a batch of 100, per record",
        (r.wire.request_bytes + r.wire.response_bytes) as f64 / 100.0,
        "B",
        Goal::AtMost,
        400.0,
    ));
    server.stop();
    Ok(())
}

/// Fills another village with synthetic records and as many log entries (numbers `from..=to`),
/// by SQL in the database itself: what matters here is the size of the tables, not the content.
async fn fill(db_url: &str, s: &Setup, from: i64, to: i64) -> anyhow::Result<()> {
    let db = sotay_server::db::Db::open(db_url).await?;
    let (records, changes) = match db.backend {
        sotay_server::db::Backend::Sqlite => (
            "WITH RECURSIVE n(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM n WHERE x < $2)
             INSERT INTO records (commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state, conflicted, deleted, event_date, updated_seq)
             SELECT $3, $4, randomblob(16), 'activity', randomblob(16), randomblob(16), randomblob(500), '{}', 'draft', FALSE, FALSE, '2026-01-01', x FROM n",
            "WITH RECURSIVE n(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM n WHERE x < $2)
             INSERT INTO changes (seq, commune_id, village_id, record_id, sensitive, owner_device, device_id, hash, bytes, received_at)
             SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes) + x - $1 + 1, $3, $4, randomblob(16), FALSE,
                    randomblob(16), randomblob(16), randomblob(32), randomblob(300), 0 FROM n",
        ),
        sotay_server::db::Backend::Postgres => (
            "INSERT INTO records (commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state, conflicted, deleted, event_date, updated_seq)
             SELECT $3, $4, decode(md5('r' || x), 'hex'), 'activity', decode(md5('o' || x), 'hex'), decode(md5('u' || x), 'hex'),
                    decode(repeat(md5('d' || x), 16), 'hex'), '{}', 'draft', FALSE, FALSE, '2026-01-01', x
             FROM generate_series($1::bigint, $2::bigint) AS x",
            "INSERT INTO changes (seq, commune_id, village_id, record_id, sensitive, owner_device, device_id, hash, bytes, received_at)
             SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes) + x - $1 + 1, $3, $4, decode(md5('r' || x), 'hex'), FALSE,
                    decode(md5('o' || x), 'hex'), decode(md5('v' || x), 'hex'), decode(md5('h' || x) || md5('i' || x), 'hex'),
                    decode(repeat(md5('c' || x), 10), 'hex'), 0
             FROM generate_series($1::bigint, $2::bigint) AS x",
        ),
    };
    let mut tx = db.begin_write().await?;
    for sql in [records, changes] {
        sqlx::query(sql)
            .bind(from)
            .bind(to)
            .bind(s.commune.as_bytes().as_slice())
            .bind(s.villages[1].as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    }
    // Every stored record has its report projection row (the server writes both in one
    // transaction, and refuses to start on a record it cannot project).
    sqlx::query(
        "INSERT INTO record_facts (commune_id, record_id, village_id, kind, event_date, topics, violence_types,
                                   referred_to, review_state, deleted, conflicted, first_stored_at)
         SELECT r.commune_id, r.id, r.village_id, r.kind, r.event_date, 0, 0, 0, r.review_state, FALSE, FALSE, 0
         FROM records r
         WHERE r.commune_id = $1 AND r.village_id = $2 AND NOT EXISTS
             (SELECT 1 FROM record_facts f WHERE f.commune_id = r.commune_id AND f.record_id = r.id)",
    )
    .bind(s.commune.as_bytes().as_slice())
    .bind(s.villages[1].as_bytes().as_slice())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.close().await;
    Ok(())
}

/// Incremental sync latency with a small and a large database: the cost must not follow its size.
/// On SQLite, and on PostgreSQL too when `--postgres` names a server.
async fn scale(args: &Args, out: &mut Printer) -> anyhow::Result<()> {
    scale_on(args, out, None).await?;
    if let Some(pg) = &args.postgres {
        scale_on(args, out, Some(pg)).await?;
    }
    Ok(())
}

async fn scale_on(args: &Args, out: &mut Printer, postgres: Option<&str>) -> anyhow::Result<()> {
    let (small, large) = if args.quick { (10_000, 100_000) } else { (10_000, 1_000_000) };
    let s = setup_on(2, 2, postgres).await?;
    let http = sotay_client::http::plain_client();
    fill(&s.db_url, &s, 1, small).await?;
    let server = Server::start(&s.db_url)?;
    let mut a = enrol(&http, &server.base, &s.codes[0][0]).await?;
    let mut b = enrol(&http, &server.base, &s.codes[0][1]).await?;
    let ids = create_activities(&mut a, 0, 50)?;
    a.sync().await?;
    b.sync().await?;
    // Per sync: the mean of the push's and the pull's medians.
    let (push, pull) = edit_round_trips(&mut a, &mut b, &ids).await?;
    let small_ms = (push + pull) / 2.0;
    server.stop();

    fill(&s.db_url, &s, small + 1, large).await?;
    let server = Server::start(&s.db_url)?;
    a.client = Client::with_http(http.clone(), &server.base)?;
    b.client = Client::with_http(http.clone(), &server.base)?;
    let (push, pull) = edit_round_trips(&mut a, &mut b, &ids).await?;
    let large_ms = (push + pull) / 2.0;
    server.stop();

    let engine = if postgres.is_some() { "PostgreSQL" } else { "SQLite" };
    let name = |n: i64| if n >= 1_000_000 { format!("{}M", n / 1_000_000) } else { format!("{}k", n / 1000) };
    out.print(Figure::info(
        format!("incremental sync latency, {} records, {engine} (median)", name(small)),
        small_ms,
        "ms",
    ));
    out.print(
        Figure::info(format!("incremental sync latency, {} records, {engine} (median)", name(large)), large_ms, "ms")
            .with_limit(small_ms),
    );
    out.print(Figure::target(
        format!("incremental sync latency ratio {} / {}, {engine}", name(large), name(small)),
        large_ms / small_ms,
        "ratio",
        Goal::AtMost,
        1.5,
    ));
    Ok(())
}

/// Many devices syncing at once on loopback: latency percentiles, errors and server memory.
async fn concurrent(args: &Args, out: &mut Printer) -> anyhow::Result<()> {
    let (villages, per_village) = if args.quick { (10, 10) } else { (25, 20) };
    let devices = villages * per_village;
    let s = setup(villages, per_village).await?;
    let server = Server::start(&s.db_url)?;
    let http = {
        sotay_client::http::install_crypto_provider();
        reqwest::Client::builder()
    }
    .pool_max_idle_per_host(devices)
    .build()?;
    let mut sims = Vec::new();
    for codes in &s.codes {
        for code in codes {
            sims.push(enrol(&http, &server.base, code).await?);
        }
    }
    // Each village starts with 40 records made by its first phone; every phone provisions.
    let mut village_records = Vec::new();
    for v in 0..villages {
        let ids = create_activities(&mut sims[v * per_village], (v * 1000) as u32, 40)?;
        sims[v * per_village].sync().await?;
        village_records.push(ids);
    }
    for sim in sims.iter_mut() {
        sim.sync().await?;
    }
    let rss_before = server.rss_mib();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut rss_peak: f64 = rss_before;
    let mut rss_after_round = Vec::new();
    let rounds = 3;
    for round in 0..rounds {
        for (i, sim) in sims.iter_mut().enumerate() {
            let ids = &village_records[i / per_village];
            sim.device.edit(ids[(i + round) % ids.len()], &[Edit::AttendanceFemale((i + round) as u32)], NOW_MS)?;
        }
        let sampler = async {
            let mut peak: f64 = 0.0;
            for _ in 0..100 {
                peak = peak.max(server.rss_mib());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        };
        let (round, peak) = tokio::join!(sync_all_at_once(&mut sims), sampler);
        let (ms, failed) = round?;
        latencies.extend(ms);
        errors += failed;
        rss_peak = rss_peak.max(peak);
        rss_after_round.push(server.rss_mib());
    }
    server.stop();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let label = format!("{devices} devices syncing at once on loopback");
    out.print(Figure::info(format!("{label}: p50"), pct(0.5), "ms"));
    if args.quick {
        out.print(Figure::info(format!("{label}: p99"), pct(0.99), "ms"));
    } else {
        out.print(Figure::target(format!("{label}: p99"), pct(0.99), "ms", Goal::AtMost, 500.0));
    }
    out.print(Figure::target(format!("{label}: errors"), errors as f64, "count", Goal::AtMost, 0.0));
    out.print(Figure::target("server RSS under that load (peak)", rss_peak, "MiB", Goal::AtMost, 256.0));
    out.print(Figure::info(
        format!("server RSS growth from round 1 to round {rounds}"),
        rss_after_round[rounds - 1] - rss_after_round[0],
        "MiB",
    ));
    Ok(())
}
