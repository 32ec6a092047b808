//! Load against `sotay-server` as its own process, measuring its resident memory and how fast
//! `/healthz` answers while it is abused: thousands of slow clients, a flood of logins, forty
//! inflated pushes at once. The figures are printed (`cargo test -p sotay-server --test load --
//! --nocapture`) and recorded in `docs/benchmarks.md`; the assertions are bounds that fail on a
//! server without timeouts, caps and budgets, not timings of this machine.

mod common;

use common::Instance;
use sotay_sync_core::wire::{self, ChangeBytes, RecordChanges, SyncRequest};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

/// `/healthz` asked every 50 ms from an address of its own, and the server's peak memory,
/// until stopped.
struct Probe {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Vec<Result<Duration, String>>>,
}

impl Probe {
    fn start(server: &Instance, pid_rss: impl Fn() -> u64 + Send + 'static) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let url = format!("{}/healthz", server.base);
        let task = tokio::spawn({
            let (stop, peak_kib) = (stop.clone(), peak_kib.clone());
            async move {
                let client = {
                    sotay_client::http::install_crypto_provider();
                    reqwest::Client::builder()
                }
                .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
                let mut out = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    peak_kib.fetch_max(pid_rss(), Ordering::Relaxed);
                    let t = Instant::now();
                    out.push(match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => Ok(t.elapsed()),
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(format!("{e}")),
                    });
                }
                out
            }
        });
        Probe { stop, peak_kib, task }
    }

    /// Stops; the latencies (all must have succeeded) and the peak memory in MiB.
    async fn finish(self, what: &str) -> (Vec<Duration>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.task.await.unwrap();
        let failed: Vec<_> = samples.iter().filter_map(|s| s.as_ref().err()).collect();
        assert!(failed.is_empty(), "{what}: /healthz failed {} of {} times: {failed:?}", failed.len(), samples.len());
        let mut ok: Vec<Duration> = samples.into_iter().map(Result::unwrap).collect();
        ok.sort();
        assert!(!ok.is_empty());
        (ok, self.peak_kib.load(Ordering::Relaxed) / 1024)
    }
}

fn rss_of(server: &Instance) -> impl Fn() -> u64 + Send + 'static {
    let path = format!("/proc/{}/status", server.pid());
    move || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn report(what: &str, before_mib: u64, peak_mib: u64, after_mib: u64, healthz: &[Duration]) {
    let pct = |p: usize| healthz[(healthz.len() - 1) * p / 100].as_secs_f64() * 1000.0;
    println!(
        "{what}: RSS {before_mib} MiB before, {peak_mib} MiB peak, {after_mib} MiB after; \
         /healthz ×{} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        healthz.len(),
        pct(50),
        pct(99),
        pct(100)
    );
}

async fn sqlite_server(dir: &tempfile::TempDir, flags: &[&str]) -> (Instance, String) {
    let db_url = format!("sqlite://{}", dir.path().join("sotay.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    (Instance::start_with(&db_url, port, flags).await, db_url)
}

/// Connections that send half a request head and hold on.
async fn slow_clients(to: SocketAddr, from: IpAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        if let Ok(mut s) = socket.connect(to).await {
            let _ = s.write_all(b"POST /api/v1/sync HTTP/1.1\r\nhost: x\r\ncontent-").await;
            held.push(s);
        }
    }
    held
}

#[tokio::test]
async fn thousands_of_slow_clients_cost_little_memory_and_healthz_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--max-connections", "1024", "--max-connections-per-addr", "128", "--header-timeout-secs", "5"];
    let (server, _) = sqlite_server(&dir, &flags).await;
    let to: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let before = server.rss_kib() / 1024;
    let probe = Probe::start(&server, rss_of(&server));
    // One client holding five thousand unfinished requests, and twenty more holding forty each.
    let mut held = slow_clients(to, "127.0.0.1".parse().unwrap(), 5000).await;
    for i in 0..20u8 {
        held.extend(slow_clients(to, IpAddr::from([127, 0, 1, i + 1]), 40).await);
    }
    let open_files = server.open_files();
    // Measure the server under this for a while (a duration to observe, not an event).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (healthz, peak) = probe.finish("slow clients").await;
    drop(held);
    let after = server.rss_kib() / 1024;
    report("5,800 slow clients", before, peak, after, &healthz);
    println!("slow clients: {open_files} files open in the server (cap 1024 connections + overflow 64)");
    assert!(open_files < 1024 + 64 + 64, "connections are capped: {open_files} files open");
    assert!(peak.saturating_sub(before) < 64, "slow clients cost {} MiB", peak - before);
    assert!(healthz.last().unwrap() < &Duration::from_secs(1), "healthz stayed prompt");
}

#[tokio::test]
async fn a_flood_of_logins_is_bounded_by_the_hashing_slots() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = sqlite_server(&dir, &[]).await;
    let before = server.rss_kib() / 1024;
    let probe = Probe::start(&server, rss_of(&server));
    // 150 logins for unknown names at once, each from its own address (so no throttle applies:
    // only the Argon2 bound stands between them and 150 × 19 MiB).
    let logins = (0..150u16).map(|i| {
        let url = format!("{}/api/v1/login", server.base);
        tokio::spawn(async move {
            let from = IpAddr::from([127, 0, 2 + (i / 250) as u8, (i % 250) as u8 + 1]);
            let client = {
                sotay_client::http::install_crypto_provider();
                reqwest::Client::builder()
            }
            .local_address(from)
            .build()
            .unwrap();
            let body = format!(r#"{{"username":"ai-do-{i}","password":"không phải mật khẩu"}}"#);
            let resp = client.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            (resp.status().as_u16(), resp.headers().contains_key("retry-after"))
        })
    });
    let mut statuses = Vec::new();
    for l in logins.collect::<Vec<_>>() {
        statuses.push(l.await.unwrap());
    }
    let (healthz, peak) = probe.finish("login flood").await;
    let after = server.rss_kib() / 1024;
    let busy = statuses.iter().filter(|s| s.0 == 503).count();
    report("150 simultaneous logins", before, peak, after, &healthz);
    println!("login flood: {} × 401, {busy} × 503", statuses.iter().filter(|s| s.0 == 401).count());
    assert!(statuses.iter().all(|&(s, retry)| s == 401 || (s == 503 && retry)), "{statuses:?}");
    assert!(peak.saturating_sub(before) < 100, "the flood cost {} MiB", peak - before);
}

#[tokio::test]
async fn forty_inflated_pushes_at_once_are_bounded_by_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("sotay.db").display());
    let (_db, codes) = common::one_village_with_codes(&db_url, 1).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Instance::start_with(&db_url, port, &["--memory-budget-bytes", "67108864"]).await;
    let client = sotay_client::Client::new(&server.base).unwrap();
    let enrolled = client.enrol(&codes[0], "điện thoại của Lan", None).await.unwrap();
    let token = client.token(enrolled.device_id, &enrolled.device_secret).await.unwrap().access_token;
    // About 8 MiB of zeros in changes just under the size limit: a body of a few KB.
    let push = RecordChanges {
        record: uuid::Uuid::now_v7().as_bytes().to_vec(),
        changes: (0..40).map(|_| ChangeBytes(vec![0u8; 200 * 1024])).collect(),
    };
    let body = wire::encode(&SyncRequest {
        epoch: None,
        cursor: 0,
        outbox_through: 1,
        push: vec![push],
        snapshot: None,
        fresh: false,
    });
    println!("inflated push: {} B on the wire, about 8 MiB inflated", body.len());
    assert!(body.len() < 64 * 1024);
    let before = server.rss_kib() / 1024;
    let probe = Probe::start(&server, rss_of(&server));
    let pushes: Vec<_> = (0..40)
        .map(|_| {
            let (base, body, token) = (server.base.clone(), body.clone(), token.clone());
            tokio::spawn(async move { common::post_sync(&base, &token, body).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for p in pushes {
        statuses.push(p.await.unwrap());
    }
    let (healthz, peak) = probe.finish("inflated pushes").await;
    let after = server.rss_kib() / 1024;
    report("40 inflated pushes", before, peak, after, &healthz);
    println!(
        "inflated pushes: {} answered, {} × 503",
        statuses.iter().filter(|&&s| s == 200).count(),
        statuses.iter().filter(|&&s| s == 503).count()
    );
    assert!(statuses.iter().all(|&s| s == 200 || s == 503), "{statuses:?}");
    assert!(peak.saturating_sub(before) < 256, "forty inflated pushes cost {} MiB", peak - before);
}
