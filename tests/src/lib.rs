//! Test harness for the end-to-end tests: [`spawn_app`] starts the real server on port 0 with a
//! fresh SQLite database in a temporary directory; [`TestDevice`] plays a phone over HTTP with the
//! same sync-core code a phone uses.

pub mod fixture;
pub mod proxy;

use sotay_client::{Client, SyncReport};
use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_server::config::Limits;
use sotay_server::state::AppState;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::*;
use sotay_sync_core::{CommuneId, Date, Edit, Record, RecordId, RecordView, UserId, VillageId};
use sqlx::Row;
use std::path::PathBuf;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server on a fresh database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Handler state (database, keys).
    pub state: AppState,
    /// The database URL, to restart on the same file.
    pub db_url: String,
    /// `http://127.0.0.1:<port>` of the metrics listener (`--metrics-bind`).
    pub metrics_base: String,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
    dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// Starts a server with default limits.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Limits::default()).await
}

/// Starts a server with the given limits, on the backend `SOTAY_TEST_DATABASE` names
/// (`sqlite`, the default, or `postgres`).
pub async fn spawn_app_with(limits: Limits) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = match backend() {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("sotay.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let mut app = start(&db_url, limits).await;
    app.dir = Some(dir);
    app
}

/// Starts a server on an existing database URL (created and migrated if needed).
pub async fn spawn_app_on(db_url: &str) -> TestApp {
    start(db_url, Limits::default()).await
}

/// The database engine the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (default).
    Sqlite,
    /// PostgreSQL at `SOTAY_TEST_POSTGRES_URL`.
    Postgres,
}

/// The backend chosen by `SOTAY_TEST_DATABASE`.
pub fn backend() -> Backend {
    match std::env::var("SOTAY_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("SOTAY_TEST_DATABASE must be sqlite or postgres, not {other:?}"),
    }
}

/// The PostgreSQL server the tests use (a database on it from which test databases are created).
pub fn postgres_admin_url() -> String {
    std::env::var("SOTAY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Creates an empty PostgreSQL database for one test (`sotay_t_…`) and returns its URL.
pub async fn fresh_postgres_database() -> String {
    try_fresh_postgres_database().await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {} is needed for SOTAY_TEST_DATABASE=postgres: {e}", postgres_admin_url())
    })
}

/// Like [`fresh_postgres_database`], or the reason PostgreSQL cannot be reached.
pub async fn try_fresh_postgres_database() -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let admin_url = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("sotay_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_string();
    Ok(format!("{base}/{name}"))
}

async fn start(db_url: &str, limits: Limits) -> TestApp {
    let state = sotay_server::build_state(db_url, limits).await.expect("server state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind metrics");
    let metrics_base = format!("http://{}", metrics_listener.local_addr().expect("addr"));
    let metrics = tokio::spawn(sotay_server::serve_metrics(metrics_listener, state.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn({
        let state = state.clone();
        async move {
            sotay_server::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .expect("server");
        }
    });
    TestApp {
        base,
        state,
        db_url: db_url.to_string(),
        metrics_base,
        metrics: Some(metrics),
        dir: None,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same database (new port).
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let limits = (*self.state.limits).clone();
        let mut next = start(&self.db_url, limits).await;
        next.dir = self.dir.take();
        next
    }

    /// Stops the server and waits for in-flight requests.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task");
        }
        if let Some(m) = self.metrics.take() {
            m.abort();
        }
    }

    /// The directory holding the database.
    pub fn dir(&self) -> PathBuf {
        self.dir.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default()
    }

    /// Number of changes in the server's log.
    pub async fn log_len(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM changes").fetch_one(&self.state.db.read).await.unwrap().get(0)
    }

    /// Number of records on the server.
    pub async fn record_count(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM records").fetch_one(&self.state.db.read).await.unwrap().get(0)
    }

    /// The server's merged document of a record.
    pub async fn server_record(&self, id: RecordId) -> Option<Record> {
        let row = sqlx::query("SELECT doc FROM records WHERE id = $1")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.state.db.read)
            .await
            .unwrap()?;
        Some(Record::load(&row.get::<Vec<u8>, _>(0), None).unwrap())
    }

    /// A commune with two villages and their users.
    pub async fn commune(&self) -> Commune {
        let db = &self.state.db;
        let commune = admin::create_commune(db, "Tân Yên").await.unwrap();
        let village_a = admin::create_village(db, commune, "Thôn Đông").await.unwrap();
        let village_b = admin::create_village(db, commune, "Thôn Tây").await.unwrap();
        let mut users = Vec::new();
        for (name, role, village) in [
            ("lan", Role::Collaborator, Some(village_a)),
            ("hoa", Role::Collaborator, Some(village_a)),
            ("minh", Role::Collaborator, Some(village_b)),
            ("reviewer", Role::Reviewer, None),
            ("focal", Role::GbvFocalPoint, None),
            ("admin", Role::Admin, None),
        ] {
            let id = admin::create_user(db, NewUser { username: name, display_name: name, role, commune, village })
                .await
                .unwrap();
            users.push((name.to_string(), id));
        }
        Commune { commune, village_a, village_b, users }
    }

    /// Enrols a new device for a user and fetches a token.
    pub async fn device(&self, username: &str) -> TestDevice {
        let user = admin::user_by_name(&self.state.db, username).await.unwrap();
        let code = admin::issue_enrolment_code(&self.state.db, user, 3600).await.unwrap();
        let client = Client::new(&self.base).unwrap();
        let e = client.enrol(&code, &format!("{username}'s phone"), None).await.unwrap();
        let token = client.token(e.device_id, &e.device_secret).await.unwrap().access_token;
        let identity = DeviceIdentity {
            device: e.device_id,
            user: e.user_id,
            commune: e.commune_id,
            village: e.village_id.unwrap_or(VillageId(uuid::Uuid::nil())),
        };
        TestDevice { device: Device::new(identity, MemoryStore::default()), client, token, secret: e.device_secret }
    }
}

impl TestApp {
    /// Sets a user's password and logs in on the web; returns the access token.
    pub async fn web_login(&self, username: &str) -> String {
        let password = format!("{username}-mật-khẩu-dài");
        let user = admin::user_by_name(&self.state.db, username).await.unwrap();
        admin::set_password(&self.state.db, user, &password).await.unwrap();
        let resp = self.login(username, &password).await;
        assert_eq!(resp.0, 200, "login {username}: {}", resp.1);
        serde_json::from_str::<serde_json::Value>(&resp.1).unwrap()["access_token"].as_str().unwrap().to_string()
    }

    /// `POST /api/v1/login`; returns the status and body.
    pub async fn login(&self, username: &str, password: &str) -> (u16, String) {
        let resp = sotay_client::http::plain_client()
            .post(format!("{}/api/v1/login", self.base))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "username": username, "password": password }).to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A request with an optional bearer token; returns the status and body.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = sotay_client::http::plain_client().request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    }

    /// `GET /metrics` on the metrics listener; returns the text.
    pub async fn metrics(&self) -> String {
        let resp =
            sotay_client::http::plain_client().get(format!("{}/metrics", self.metrics_base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.text().await.unwrap()
    }

    /// Number of audit entries with this action.
    pub async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.state.db.read)
            .await
            .unwrap()
            .get(0)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The ids of a test commune.
pub struct Commune {
    /// Commune.
    pub commune: CommuneId,
    /// Village A (lan, hoa).
    pub village_a: VillageId,
    /// Village B (minh).
    pub village_b: VillageId,
    /// (username, id).
    pub users: Vec<(String, UserId)>,
}

/// A phone: the sync-core device over memory, with its HTTP client and token.
pub struct TestDevice {
    /// The device engine.
    pub device: Device<MemoryStore>,
    /// The HTTP client.
    pub client: Client,
    /// A valid access token.
    pub token: String,
    /// The device secret.
    pub secret: String,
}

/// A fixed clock for tests: 2026-11-20, inside the Action Month.
pub const NOW_MS: i64 = 1_795_651_200_000;

impl TestDevice {
    /// Syncs until there is nothing left.
    pub async fn sync(&mut self) -> SyncReport {
        self.client.sync(&mut self.device, &self.token).await.expect("sync")
    }

    /// Pushes raw changes of one record in one sync round trip, as a modified client could.
    pub async fn push_raw(&self, id: RecordId, changes: Vec<Vec<u8>>) -> sotay_sync_core::wire::SyncResponse {
        use sotay_sync_core::wire::{ChangeBytes, RecordChanges, SyncRequest};
        let push = vec![RecordChanges {
            record: id.as_bytes().to_vec(),
            changes: changes.into_iter().map(ChangeBytes).collect(),
        }];
        let req = SyncRequest { epoch: None, cursor: 0, snapshot: None, fresh: false, outbox_through: 1, push };
        self.client.sync_once(&self.token, &req).await.expect("sync answered").0
    }

    /// This phone as an Automerge editor (its device and its user).
    pub fn editor(&self) -> sotay_sync_core::Editor {
        let identity = self.device.identity();
        sotay_sync_core::Editor { device: identity.device, user: identity.user }
    }

    /// Points the device at another server address (after a restart).
    pub fn reconnect(&mut self, base: &str) {
        self.client = Client::new(base).unwrap();
    }

    /// Creates a valid activity.
    pub fn add_activity(&mut self, female: u32, male: u32) -> RecordId {
        self.device.create(RecordKind::Activity, &activity_edits(female, male), NOW_MS).unwrap()
    }

    /// Every record's projection, by id.
    pub fn views(&self) -> Vec<RecordView> {
        let mut v = self.device.list().unwrap();
        v.sort_by_key(|r| r.id);
        v
    }
}

/// A form body as a browser sends it (`application/x-www-form-urlencoded`, every byte outside
/// the unreserved set percent-encoded).
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

/// The edits of a typical valid activity.
pub fn activity_edits(female: u32, male: u32) -> Vec<Edit> {
    vec![
        Edit::Unit("hlhpn".into()),
        Edit::PlanItem(PlanItem::CommunicationProgramme),
        Edit::ActivityType(ActivityType::Communication),
        Edit::Format(Some(Format::Club)),
        Edit::AddTopic(Topic::GbvFamily),
        Edit::HeldOn(Date::new(2026, 11, 18).unwrap()),
        Edit::Location("Nhà văn hóa thôn Đông".into()),
        Edit::AttendanceFemale(female),
        Edit::AttendanceMale(male),
        Edit::Notes("Sinh hoạt câu lạc bộ, phát tờ rơi".into()),
    ]
}

/// The edits of a valid GBV referral.
pub fn gbv_edits(case_code: &str) -> Vec<Edit> {
    vec![
        Edit::Unit("hlhpn".into()),
        Edit::PlanItem(PlanItem::GbvProgramme),
        Edit::CaseCode(case_code.into()),
        Edit::ReportedOn(Date::new(2026, 11, 19).unwrap()),
        Edit::SurvivorSex(Sex::Female),
        Edit::SurvivorAgeGroup(AgeGroup::From18To59),
        Edit::AddViolenceType(ViolenceType::Psychological),
        Edit::Setting(Setting::Family),
        Edit::AddReferredTo(Service::TrustedAddress),
        Edit::CaseStatus(CaseStatus::Referred),
        Edit::ConsentToShare(false),
        Edit::Notes("ghi chú mật".into()),
    ]
}
