//! Helpers shared by the tests that run `sotay-server` as real processes.
#![allow(dead_code)]

use sqlx::Connection;
use std::process::{Child, Command, Stdio};

/// The test PostgreSQL's URL, as a superuser (`SOTAY_TEST_POSTGRES_URL`, or the local default).
pub fn postgres_admin_url() -> String {
    std::env::var("SOTAY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database on the test PostgreSQL, or `None` (skipped) when there is none.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin_url = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var("SOTAY_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
            eprintln!(
                "SKIPPED: PostgreSQL not reachable at {admin_url} ({e}); set SOTAY_REQUIRE_POSTGRES=1 to fail instead"
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL is required (SOTAY_REQUIRE_POSTGRES=1) but {admin_url} is not reachable: {e}"),
    };
    let name = format!("sotay_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_string();
    Some(format!("{base}/{name}"))
}

/// Opens (and migrates) the database and sets up commune Tân Yên, village Thôn Đông and its
/// collaborator "lan" with `codes` one-time enrolment codes.
pub async fn one_village_with_codes(db_url: &str, codes: usize) -> (sotay_server::db::Db, Vec<String>) {
    let db = sotay_server::db::Db::open(db_url).await.unwrap();
    let codes = commune_with_codes(&db, "Tân Yên", "lan", codes).await;
    (db, codes)
}

/// A commune with one village and one collaborator, and `codes` enrolment codes for her phones.
#[allow(dead_code)]
pub async fn commune_with_codes(db: &sotay_server::db::Db, name: &str, username: &str, codes: usize) -> Vec<String> {
    use sotay_server::admin::{self, NewUser};
    let commune = admin::create_commune(db, name).await.unwrap();
    let village = admin::create_village(db, commune, "Thôn Đông").await.unwrap();
    let role = sotay_server::auth::Role::Collaborator;
    let user = admin::create_user(db, NewUser { username, display_name: "Lan", role, commune, village: Some(village) })
        .await
        .unwrap();
    let mut out = Vec::new();
    for _ in 0..codes {
        out.push(admin::issue_enrolment_code(db, user, 3600).await.unwrap());
    }
    out
}

/// The I/O fault shim (`faults/failing_io.c`) built with the system C compiler into `work`, or
/// `None` with the reason printed (skipped) where there is no compiler.
pub fn io_fault_shim(work: &std::path::Path) -> Option<std::path::PathBuf> {
    let shim = work.join("failing_io.so");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/faults/failing_io.c");
    match Command::new("cc").args(["-shared", "-fPIC", "-O1", "-o"]).arg(&shim).arg(source).arg("-ldl").output() {
        Ok(out) if out.status.success() => Some(shim),
        Ok(out) => {
            println!(
                "SKIPPED: the I/O fault shim does not build here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            println!("SKIPPED: no C compiler to build the I/O fault shim ({e})");
            None
        }
    }
}

/// A running `sotay-server` process.
pub struct Instance {
    child: Child,
    /// Its base URL.
    pub base: String,
}

impl Instance {
    /// Starts one on a free port and waits until `/readyz` answers.
    pub async fn start(db_url: &str) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Instance::start_on(db_url, port).await
    }

    /// Starts one on `port` and waits until `/readyz` answers.
    pub async fn start_on(db_url: &str, port: u16) -> Instance {
        Instance::start_with(db_url, port, &[]).await
    }

    /// Starts one on `port` with more flags and waits until `/readyz` answers.
    pub async fn start_with(db_url: &str, port: u16, flags: &[&str]) -> Instance {
        // A long run may name a copy of the binary, so that rebuilding meanwhile does not touch it.
        let binary = std::env::var("SOTAY_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sotay-server").into());
        let child = Command::new(binary)
            .args(["--database-url", db_url, "--bind", &format!("127.0.0.1:{port}"), "--metrics-bind", "127.0.0.1:0"])
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so that it is killed and reaped even if it never becomes ready.
        let instance = Instance { child, base: format!("http://127.0.0.1:{port}") };
        // Ready when /readyz answers: an event to await, polled because it is another process.
        let http = sotay_client::http::plain_client();
        for _ in 0..600 {
            if http.get(format!("{}/readyz", instance.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return instance;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("sotay-server did not become ready");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory, KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Its open file descriptors (Linux).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map(|d| d.count()).unwrap_or(0)
    }

    /// `kill -9` (`Child::kill` is SIGKILL): no shutdown, no flush, nothing finished.
    pub fn kill(self) {
        drop(self);
    }
}

/// `POST /api/v1/sync` with a framed body, as a phone sends it (no retries: the test reads the answer).
#[allow(dead_code)]
pub async fn post_sync(base: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    sotay_client::http::plain_client()
        .post(format!("{base}/api/v1/sync"))
        .bearer_auth(token)
        .header("content-type", sotay_sync_core::wire::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A phone enrolled with a one-time code: its sync engine on a memory store, and its secret.
pub async fn enrol_phone(
    client: &sotay_client::Client,
    code: &str,
) -> (sotay_sync_core::device::Device<sotay_sync_core::device::MemoryStore>, String) {
    let e = client.enrol(code, "phone", None).await.unwrap();
    let identity = sotay_sync_core::device::DeviceIdentity {
        device: e.device_id,
        user: e.user_id,
        commune: e.commune_id,
        village: e.village_id.unwrap_or(sotay_sync_core::VillageId(uuid::Uuid::nil())),
    };
    (sotay_sync_core::device::Device::new(identity, Default::default()), e.device_secret)
}

/// A small deterministic generator (xorshift): a failing seed runs the same again.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
