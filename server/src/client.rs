//! The device's HTTP client: enrolment, tokens and the sync loop over [`Device`]. What a phone
//! does, in Rust, shared by the `sotay` command line, the end-to-end tests and the benchmark.

use crate::protocol::{EnrolRequest, EnrolResponse, MeResponse, TokenRequest, TokenResponse};
use sotay_sync_core::DeviceId;
use sotay_sync_core::RecordId;
use sotay_sync_core::device::{Device, DeviceError, DeviceStore};
use sotay_sync_core::wire::{self, SyncRequest, SyncResponse};

/// Largest push per sync request, in change bytes (a slow link should not carry one huge body).
pub const MAX_PUSH_BYTES: usize = 1024 * 1024;
/// Largest answer a device accepts once inflated.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Errors talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("server said {status}: {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The device was revoked: wipe local GBV data.
    #[error("this device has been revoked")]
    Revoked,
    /// The request did not complete (no answer, cut connection).
    #[error("network: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer could not be used.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl<E: std::error::Error + 'static> From<DeviceError<E>> for ClientError {
    fn from(e: DeviceError<E>) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

/// Byte counts of one sync round trip (bodies as sent on the wire, compressed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Request body bytes.
    pub request_bytes: usize,
    /// Response body bytes.
    pub response_bytes: usize,
}

/// What a whole sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Round trips made.
    pub round_trips: usize,
    /// Bytes sent and received (bodies).
    pub wire: WireStats,
    /// Local changes acknowledged.
    pub acked: usize,
    /// Records received or updated.
    pub records_received: usize,
    /// Local changes the server refused (kept aside on the device).
    pub rejected: usize,
    /// The device was reset because its user's village or role changed.
    pub reset: bool,
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Client {
        Client { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_string() }
    }

    /// A client sharing an HTTP connection pool with others (many simulated devices).
    pub fn with_http(http: reqwest::Client, base: &str) -> Client {
        Client { http, base: base.trim_end_matches('/').to_string() }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?);
        let bytes = send(request).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Enrols this device with a one-time code.
    pub async fn enrol(&self, code: &str, device_name: &str) -> Result<EnrolResponse, ClientError> {
        self.post_json("/api/v1/enrol", &EnrolRequest { code: code.into(), device_name: device_name.into() }).await
    }

    /// Exchanges the device secret for an access token.
    pub async fn token(&self, device_id: DeviceId, secret: &str) -> Result<TokenResponse, ClientError> {
        self.post_json("/api/v1/token", &TokenRequest { device_id, device_secret: secret.into() }).await
    }

    /// Sets the device's commune and village to its user's current ones.
    async fn refresh_identity<S: DeviceStore>(&self, device: &mut Device<S>, token: &str) -> Result<(), ClientError> {
        let me = self.me(token).await?;
        let mut identity = device.identity();
        identity.commune = me.commune_id;
        identity.village = me.village_id.unwrap_or(sotay_sync_core::VillageId(uuid::Uuid::nil()));
        device.set_identity(identity);
        Ok(())
    }

    /// A review action through the API (`approve`, or `return` with a comment): approving and
    /// returning are made by the server on its own copy, never pushed by a phone
    /// (`sotay_sync_core::rules`). The phone receives the result on its next sync.
    pub async fn review(&self, token: &str, id: RecordId, comment: Option<&str>) -> Result<(), ClientError> {
        let (action, body) = match comment {
            None => ("approve", serde_json::json!({})),
            Some(c) => ("return", serde_json::json!({ "comment": c })),
        };
        let request = self
            .http
            .post(format!("{}/api/v1/records/{id}/{action}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string());
        send(request).await.map(|_| ())
    }

    /// `GET /api/v1/me`: the token's device and its user's current scope.
    pub async fn me(&self, token: &str) -> Result<MeResponse, ClientError> {
        let bytes = send(self.http.get(format!("{}/api/v1/me", self.base)).bearer_auth(token)).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// One sync round trip with a prepared request.
    pub async fn sync_once(&self, token: &str, req: &SyncRequest) -> Result<(SyncResponse, WireStats), ClientError> {
        self.sync_raw(token, wire::encode(req)).await
    }

    /// One sync round trip with an already-encoded body (tests use this to resend exact bytes).
    pub async fn sync_raw(&self, token: &str, body: Vec<u8>) -> Result<(SyncResponse, WireStats), ClientError> {
        let request_bytes = body.len();
        let request = self
            .http
            .post(format!("{}/api/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", wire::CONTENT_TYPE)
            .body(body);
        let bytes = send(request).await?;
        let response = wire::decode(&bytes, MAX_RESPONSE_BYTES).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((response, WireStats { request_bytes, response_bytes: bytes.len() }))
    }

    /// Syncs a device until nothing is left to send or receive.
    pub async fn sync<S: DeviceStore>(&self, device: &mut Device<S>, token: &str) -> Result<SyncReport, ClientError> {
        let mut report = SyncReport::default();
        loop {
            if device.needs_provisioning()? {
                // About to be provisioned (new, or reset): take the scope the server has now, so a
                // move that happened before, or an interrupted reset, cannot leave a stale village.
                self.refresh_identity(device, token).await?;
            }
            let req = device.prepare_sync(MAX_PUSH_BYTES)?;
            let pending_before = device.pending()?;
            let (resp, stats) = self.sync_once(token, &req).await?;
            let progress = device.apply_sync(&req, resp)?;
            report.round_trips += 1;
            report.wire.request_bytes += stats.request_bytes;
            report.wire.response_bytes += stats.response_bytes;
            report.acked += progress.acked;
            report.records_received += progress.records_received;
            report.rejected += progress.rejected;
            if progress.reset {
                // Moved to another village or role: the next round takes the new scope and provisions.
                report.reset = true;
                continue;
            }
            let pending = device.pending()?;
            let pushing_more = pending > 0 && pending < pending_before;
            if !progress.more && !pushing_more {
                return Ok(report);
            }
        }
    }
}

/// Sends a request and returns the body of a successful answer, or the server's error.
async fn send(request: reqwest::RequestBuilder) -> Result<bytes::Bytes, ClientError> {
    let resp = request.send().await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        return Err(server_error(status.as_u16(), &bytes));
    }
    Ok(bytes)
}

fn server_error(status: u16, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if b.error == "device_revoked" => ClientError::Revoked,
        Ok(b) => ClientError::Server { status, code: b.error, message: b.message },
        Err(_) => ClientError::Server {
            status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}
