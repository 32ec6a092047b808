//! The scenarios of SPEC §8, each on a fresh database and a fresh server process.

use crate::Args;
use crate::figures::{Figure, Goal, Printer};
use anyhow::Context;
use sotay_client::{Client, SyncReport};
use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_server::config::Limits;
use sotay_sync_core::device::{Device, DeviceIdentity, DeviceStore, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, Record, RecordId, VillageId, sample};
use sqlx::Row;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOW_MS: i64 = 1_795_651_200_000;

/// Runs in the child process: a server on port 0, its port printed on stdout, stopped when the
/// parent closes stdin (so it never outlives the benchmark).
pub async fn serve_child(db_url: &str) -> anyhow::Result<()> {
    let detect_duplicates = std::env::var("SOTAY_DETECT_DUPLICATES").map_or(true, |v| v != "false");
    // Every simulated phone connects from loopback: one address stands for many phones here.
    let defaults = Limits::default();
    let limits = Limits { detect_duplicates, max_connections_per_addr: defaults.max_connections, ..defaults };
    let state = sotay_server::build_state(db_url, limits).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("PORT {}", listener.local_addr()?.port());
    sotay_server::serve(listener, state, async {
        use tokio::io::AsyncReadExt;
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    })
    .await?;
    Ok(())
}

/// A server process.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(db_url: &str) -> anyhow::Result<Server> {
        Server::start_with(db_url, true)
    }

    /// Starts one, looking for suspected duplicates or not.
    pub(crate) fn start_with(db_url: &str, detect_duplicates: bool) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve", db_url])
            .env("SOTAY_DETECT_DUPLICATES", detect_duplicates.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("RUST_LOG", "warn")
            .spawn()
            .context("starting the server process")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut line)?;
        let port = line.trim().strip_prefix("PORT ").context("server did not start")?.to_string();
        Ok(Server { child, base: format!("http://127.0.0.1:{port}") })
    }

    /// Resident set size of the server process, in MiB.
    pub(crate) fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// CPU time the server process has used so far, seconds.
    pub(crate) fn cpu_secs(&self) -> f64 {
        crate::province::cpu_secs(self.child.id())
    }

    pub(crate) fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A simulated phone.
pub(crate) struct Sim {
    pub(crate) device: Device<MemoryStore>,
    pub(crate) client: Client,
    token: String,
    secret: String,
}

impl Sim {
    pub(crate) async fn sync(&mut self) -> anyhow::Result<SyncReport> {
        Ok(self.client.sync(&mut self.device, &self.token).await?)
    }

    /// Talks to another server from now on, with a fresh token from it.
    pub(crate) async fn move_to(&mut self, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        self.client = Client::with_http(http.clone(), base)?;
        self.token = self.client.token(self.device.identity().device, &self.secret).await?.access_token;
        Ok(())
    }
}

pub(crate) async fn enrol(http: &reqwest::Client, base: &str, code: &str) -> anyhow::Result<Sim> {
    let client = Client::with_http(http.clone(), base)?;
    let e = client.enrol(code, "bench", None).await?;
    let token = client.token(e.device_id, &e.device_secret).await?.access_token;
    let identity = DeviceIdentity {
        device: e.device_id,
        user: e.user_id,
        commune: e.commune_id,
        village: e.village_id.unwrap_or(VillageId(uuid::Uuid::nil())),
    };
    Ok(Sim { device: Device::new(identity, MemoryStore::default()), client, token, secret: e.device_secret })
}

/// A fresh database with one commune, `villages` villages with one collaborator each, and
/// `codes_per_village` enrolment codes per collaborator.
pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    pub(crate) db_url: String,
    /// Enrolment codes, by village.
    pub(crate) codes: Vec<Vec<String>>,
    villages: Vec<VillageId>,
    pub(crate) commune: sotay_sync_core::CommuneId,
}

pub(crate) async fn setup(villages: usize, codes_per_village: usize) -> anyhow::Result<Setup> {
    setup_on(villages, codes_per_village, None).await
}

/// Like [`setup`], on a fresh database of the PostgreSQL server at `postgres` when given.
pub(crate) async fn setup_on(
    villages: usize,
    codes_per_village: usize,
    postgres: Option<&str>,
) -> anyhow::Result<Setup> {
    let (dir, db_url) = fresh_db_url(postgres).await?;
    let db = sotay_server::db::Db::open(&db_url).await?;
    let commune = admin::create_commune(&db, "Tân Yên").await?;
    let mut codes = Vec::new();
    let mut ids = Vec::new();
    for v in 0..villages {
        let village = admin::create_village(&db, commune, &format!("Thôn {v}")).await?;
        let username = format!("ctv{v}");
        let user = admin::create_user(
            &db,
            NewUser {
                username: &username,
                display_name: &username,
                role: Role::Collaborator,
                commune,
                village: Some(village),
            },
        )
        .await?;
        let mut c = Vec::new();
        for _ in 0..codes_per_village {
            c.push(admin::issue_enrolment_code(&db, user, 3600).await?);
        }
        codes.push(c);
        ids.push(village);
    }
    db.close().await;
    Ok(Setup { _dir: dir, db_url, codes, villages: ids, commune })
}

/// A fresh database: an SQLite file in a new temporary directory, or a new database on the
/// PostgreSQL server at `postgres` when given.
pub(crate) async fn fresh_db_url(postgres: Option<&str>) -> anyhow::Result<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir()?;
    let db_url = match postgres {
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        Some(admin_url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(admin_url).await?;
            let name = format!("sotay_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
            let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
            format!("{base}/{name}")
        }
    };
    Ok((dir, db_url))
}

/// A phone (in memory) that creates `n` activities and syncs them.
pub(crate) async fn create_on_memory_phone(base: &str, code: &str, n: u32) -> anyhow::Result<()> {
    let mut sim = enrol(&sotay_client::http::plain_client(), base, code).await?;
    create_activities(&mut sim, 0, n)?;
    sim.sync().await?;
    Ok(())
}

pub(crate) fn create_activities(sim: &mut Sim, from: u32, n: u32) -> anyhow::Result<Vec<RecordId>> {
    (from..from + n)
        .map(|i| Ok(sim.device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS + i64::from(i))?))
        .collect()
}

pub(crate) fn wanted(args: &Args, name: &str) -> bool {
    args.only.as_deref().is_none_or(|o| name.contains(o))
}

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
    let small_ms = edit_round_trips(&mut a, &mut b, &ids).await?;
    server.stop();

    fill(&s.db_url, &s, small + 1, large).await?;
    let server = Server::start(&s.db_url)?;
    a.client = Client::with_http(http.clone(), &server.base)?;
    b.client = Client::with_http(http.clone(), &server.base)?;
    let large_ms = edit_round_trips(&mut a, &mut b, &ids).await?;
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

/// Median time of: one phone pushes a one-field edit, the other pulls it.
async fn edit_round_trips(a: &mut Sim, b: &mut Sim, ids: &[RecordId]) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for i in 0..60u32 {
        a.device.edit(ids[i as usize % ids.len()], &[Edit::AttendanceMale(i)], NOW_MS + i64::from(i))?;
        let t = Instant::now();
        a.sync().await?;
        b.sync().await?;
        if i >= 20 {
            // The first rounds warm the server's caches and connections.
            times.push(t.elapsed().as_secs_f64() * 1000.0 / 2.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
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

/// Every phone sends its sync at once; the latency of each is its round trip (milliseconds), and
/// the failures are counted (each distinct message printed once, on stderr). Applying the answers
/// happens afterwards, so the simulated phones (which share this machine's cores with the
/// server) do not queue behind each other's CPU work.
pub(crate) async fn sync_all_at_once(sims: &mut Vec<Sim>) -> anyhow::Result<(Vec<f64>, usize)> {
    let tasks: Vec<_> = sims
        .drain(..)
        .map(|sim| {
            tokio::spawn(async move {
                let req = sim.device.prepare_sync(sotay_client::sync::MAX_PUSH_BYTES);
                let t = Instant::now();
                let resp = match &req {
                    Ok(req) => sim.client.sync_once(&sim.token, req).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                (sim, t.elapsed(), req.map_err(|e| e.to_string()).and_then(|req| resp.map(|resp| (req, resp))))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (mut sim, elapsed, exchange) in futures_join(tasks).await {
        latencies.push(elapsed.as_secs_f64() * 1000.0);
        match exchange {
            Ok((req, (resp, _))) => {
                if sim.device.apply_sync(&req, resp)?.more {
                    sim.sync().await?;
                }
            }
            Err(e) => *errors.entry(e).or_default() += 1,
        }
        sims.push(sim);
    }
    for (e, n) in &errors {
        eprintln!("  {n} syncs failed: {e}");
    }
    Ok((latencies, errors.values().sum()))
}

pub(crate) async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task panicked"));
    }
    out
}
