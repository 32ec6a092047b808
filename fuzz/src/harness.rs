//! The harness the fuzz targets share: one Sổ Tay server per fuzzing process, on a SQLite file in
//! a temporary directory (on /dev/shm where there is one), holding a commune with its people, a
//! phone and two records; requests go through the real router in-process, and every answer is
//! checked the way a phone or a person reads it.
//!
//! What counts as a finding: a panic anywhere, a 5xx other than 503, an error answer that is not
//! the one JSON shape with a short one-line message, or a 200 sync answer a phone cannot decode.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use sotay_server::admin::{self, DeviceKind, NewUser};
use sotay_server::auth::{AuthDevice, Role};
use sotay_server::config::Limits;
use sotay_server::state::AppState;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::wire::{self, SyncResponse};
use sotay_sync_core::{DeviceId, RecordId, sample};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

/// The phone's device id, fixed so the seed corpus can ask for its token.
pub const PHONE_DEVICE: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
/// The phone's device secret.
pub const PHONE_SECRET: &str = "fuzz-device-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// The reviewer's login, so the seed corpus holds one login that succeeds.
pub const REVIEWER: (&str, &str) = ("reviewer", "mật-khẩu-để-thử-nghiệm");
/// In a request body, replaced by the activity record's id.
pub const ACTIVITY_MARK: &str = "@A";
/// In a request body, replaced by the GBV referral's id.
pub const GBV_MARK: &str = "@G";

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    /// Nobody signed in.
    Anonymous,
    /// The collaborator's phone.
    Phone,
    /// The commune's reviewer.
    Reviewer,
    /// The GBV focal point.
    FocalPoint,
    /// The commune's administrator.
    Admin,
}

impl Caller {
    /// A caller chosen by one byte of the input.
    pub fn from_byte(b: u8) -> Caller {
        [Caller::Anonymous, Caller::Phone, Caller::Reviewer, Caller::FocalPoint, Caller::Admin][b as usize % 5]
    }
}

/// The server and what the targets need to address it.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    state: AppState,
    tokens: [String; 4],
    phone: DeviceIdentity,
    activity: RecordId,
    gbv: RecordId,
    calls: AtomicU32,
}

/// The process's harness, built on first use.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::build)
}

impl Harness {
    fn build() -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let url = format!("sqlite://{}", scratch_dir().join("fuzz.db").display());
        let (state, tokens, phone, activity, gbv) = rt.block_on(async {
            let state = sotay_server::build_state(&url, Limits::default()).await.unwrap();
            let db = &state.db;
            let commune = admin::create_commune(db, "Tân Yên").await.unwrap();
            let village = admin::create_village(db, commune, "Thôn Đông").await.unwrap();
            admin::create_unit(db, commune, "HPN", "Hội Phụ nữ").await.unwrap();
            let now = sotay_server::now_ms() as u64 / 1000;
            let mut tokens = Vec::new();
            let mut phone_identity = None;
            for (name, role) in [
                ("lan", Role::Collaborator),
                (REVIEWER.0, Role::Reviewer),
                ("focal", Role::GbvFocalPoint),
                ("admin", Role::Admin),
            ] {
                let village = (role == Role::Collaborator).then_some(village);
                let user =
                    admin::create_user(db, NewUser { username: name, display_name: name, role, commune, village })
                        .await
                        .unwrap();
                let (device, kind) = if role == Role::Collaborator {
                    (DeviceId(PHONE_DEVICE.parse().unwrap()), DeviceKind::Phone)
                } else {
                    (DeviceId(uuid::Uuid::now_v7()), DeviceKind::Web)
                };
                let auth =
                    AuthDevice { device, user, role, commune, village, scope_changed: false, scope_unrecorded: false };
                let mut tx = db.begin_write().await.unwrap();
                admin::insert_device(&mut tx, &auth, name, PHONE_SECRET, kind).await.unwrap();
                tx.commit().await.unwrap();
                tokens.push(state.keys.issue(user, device, now, 10 * 365 * 24 * 3600));
                if role == Role::Collaborator {
                    phone_identity = Some(DeviceIdentity { device, user, commune, village: village.unwrap() });
                }
            }
            let reviewer = admin::user_by_name(db, REVIEWER.0).await.unwrap();
            admin::set_password(db, reviewer, REVIEWER.1).await.unwrap();
            let tokens: [String; 4] = tokens.try_into().unwrap();

            // Two records from the phone, through the router like any sync.
            let mut phone = Device::new(phone_identity.unwrap(), MemoryStore::default());
            let now = sotay_server::now_ms();
            let activity = phone.create(RecordKind::Activity, &sample::activity(1, 2026), now).unwrap();
            let gbv = phone.create(RecordKind::GbvReferral, &sample::gbv_referral(1, 2026), now).unwrap();
            let request = phone.prepare_sync(1 << 20).unwrap();
            let (status, body) =
                send(&state, sync_request(&format!("Bearer {}", tokens[0]), wire::encode(&request)), 1).await;
            assert_eq!(status, StatusCode::OK, "the harness's first sync");
            let response: SyncResponse = wire::decode(&body, usize::MAX).unwrap();
            phone.apply_sync(&request, response).unwrap();
            (state, tokens, phone.identity(), activity, gbv)
        });
        Harness { rt, state, tokens, phone, activity, gbv, calls: AtomicU32::new(0) }
    }
}

/// This process's directory for the database, on a RAM disk where there is one. The harness lives
/// in a static, which is never dropped, so the directory is named after the process and removed by
/// a later process once this one is gone.
fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("sotay-fuzz-"))
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(format!("sotay-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Harness {
    /// A caller's `Authorization` header value, if it has one.
    pub fn bearer(&self, caller: Caller) -> Option<String> {
        let token = match caller {
            Caller::Anonymous => return None,
            Caller::Phone => &self.tokens[0],
            Caller::Reviewer => &self.tokens[1],
            Caller::FocalPoint => &self.tokens[2],
            Caller::Admin => &self.tokens[3],
        };
        Some(format!("Bearer {token}"))
    }

    /// A body with the record marks replaced by the records' ids.
    pub fn with_record_ids(&self, text: &str) -> String {
        text.replace(ACTIVITY_MARK, &self.activity.to_string()).replace(GBV_MARK, &self.gbv.to_string())
    }

    /// The collaborator's phone: a phone library with this identity syncs as that phone.
    pub fn phone_identity(&self) -> DeviceIdentity {
        self.phone
    }

    /// The activity record's id.
    pub fn activity(&self) -> RecordId {
        self.activity
    }

    /// Sends one request through the router (from an address of its own, so the throttles of
    /// one address do not turn every later input into a 429); the status and the body.
    pub fn send(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        self.rt.block_on(send(&self.state, request, n))
    }
}

/// A sync request from a bearer token.
pub fn sync_request(bearer: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/sync")
        .header("authorization", bearer)
        .header("content-type", wire::CONTENT_TYPE)
        .body(Body::from(body))
        .unwrap()
}

async fn send(state: &AppState, mut request: Request<Body>, n: u32) -> (StatusCode, Vec<u8>) {
    let [_, b, c, d] = n.to_be_bytes();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([10, b, c, d], 40000))));
    let response = sotay_server::routes::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, body.to_vec())
}

/// Checks an answer as a phone or a person reads it; panics (a finding) when it is wrong.
pub fn check_answer(what: &str, status: StatusCode, body: &[u8]) {
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{what}: answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    if status.is_client_error() || status.is_server_error() {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|_| {
            panic!("{what}: {status} without a JSON error body: {}", String::from_utf8_lossy(body))
        });
        let code = json["error"].as_str().unwrap_or_default();
        let message = json["message"].as_str().unwrap_or_default();
        assert!(!code.is_empty() && !message.is_empty(), "{what}: {status} {json}");
        assert!(
            !message.contains('\n') && message.chars().count() <= 300,
            "{what}: not one short sentence: {message:?}"
        );
    }
}
