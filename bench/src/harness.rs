//! What every scenario stands on: the server as its own process, simulated phones running the
//! project's device code, fresh databases, and the measurements several scenarios share.

use anyhow::Context;
use sotay_client::{Client, SyncReport};
use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_server::config::Limits;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{CommuneId, Edit, RecordId, VillageId, sample};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// "Now" for the records the phones make: a fixed instant, so runs compare.
pub(crate) const NOW_MS: i64 = 1_795_651_200_000;

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
        cpu_secs(self.child.id())
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
    pub(crate) villages: Vec<VillageId>,
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
    let (commune, villages, codes) = add_commune(&db, "Tân Yên", "ctv", villages, codes_per_village).await?;
    db.close().await;
    Ok(Setup { _dir: dir, db_url, codes, villages, commune })
}

/// A commune named `name` with `villages` villages, one collaborator in each (user names
/// `{users}0`, `{users}1`, …) and `codes` enrolment codes for her: the commune, its villages and
/// the codes, village by village.
pub(crate) async fn add_commune(
    db: &sotay_server::db::Db,
    name: &str,
    users: &str,
    villages: usize,
    codes: usize,
) -> anyhow::Result<(CommuneId, Vec<VillageId>, Vec<Vec<String>>)> {
    let commune = admin::create_commune(db, name).await?;
    let (mut ids, mut all_codes) = (Vec::new(), Vec::new());
    for v in 0..villages {
        let village = admin::create_village(db, commune, &format!("Thôn {v}")).await?;
        let username = format!("{users}{v}");
        let user = NewUser {
            username: &username,
            display_name: &username,
            role: Role::Collaborator,
            commune,
            village: Some(village),
        };
        let user = admin::create_user(db, user).await?;
        let mut of_village = Vec::new();
        for _ in 0..codes {
            of_village.push(admin::issue_enrolment_code(db, user, 3600).await?);
        }
        all_codes.push(of_village);
        ids.push(village);
    }
    Ok((commune, ids, all_codes))
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

/// Incremental sync, 40 times: phone `a` pushes a one-field edit of one of `ids` and phone `b`
/// pulls it. The medians of the push and of the pull, milliseconds.
pub(crate) async fn edit_round_trips(a: &mut Sim, b: &mut Sim, ids: &[RecordId]) -> anyhow::Result<(f64, f64)> {
    let (mut push, mut pull) = (Vec::new(), Vec::new());
    for i in 0..60u32 {
        // One more than the record holds, so every edit changes something.
        let id = ids[(i as usize * 37) % ids.len()];
        let male = a.device.view(id)?.attendance_male.unwrap_or(0);
        let edit = Edit::AttendanceMale(if male >= 900 { 1 } else { male as u32 + 1 });
        anyhow::ensure!(a.device.edit(id, &[edit], NOW_MS + i64::from(i))?, "the edit changed nothing");
        let t = Instant::now();
        a.sync().await?;
        let pushed = t.elapsed();
        let r = b.sync().await?;
        anyhow::ensure!(r.records_received >= 1, "the edit did not reach the other phone");
        if i >= 20 {
            // The first rounds warm the server's caches and connections.
            push.push(pushed.as_secs_f64() * 1000.0);
            pull.push((t.elapsed() - pushed).as_secs_f64() * 1000.0);
        }
    }
    Ok((median(&mut push), median(&mut pull)))
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

/// CPU time (user and system) process `pid` has used, seconds (Linux; 0 if it is gone).
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime: fields 14 and 15 of the line, 11 and 12 counted from 0 after the name;
    // 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// The median of `v` (sorted in place).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether `--only` selects the scenario `name` (every scenario without it).
pub(crate) fn wanted(args: &crate::Args, name: &str) -> bool {
    args.only.as_deref().is_none_or(|o| name.contains(o))
}
