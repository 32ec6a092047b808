//! The device's HTTP client: one server, its TLS (rustls with bundled roots, no OpenSSL), the
//! plain-HTTP policy, timeouts sized for a village link, and the endpoints a phone calls
//! (enrol, token, me, review, one sync round trip). The sync loop is in `sync.rs`.

use crate::error::ClientError;
use sotay_sync_core::DeviceId;
use sotay_sync_core::RecordId;
use sotay_sync_core::protocol::{EnrolRequest, EnrolResponse, MeResponse, TokenRequest, TokenResponse};
use sotay_sync_core::wire::{self, SyncRequest, SyncResponse};
use std::sync::Arc;
use std::time::Duration;

/// Largest answer a device accepts once inflated.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How the client talks to the network.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Giving up on making a connection.
    pub connect_timeout: Duration,
    /// Giving up on an answer that stops arriving (no byte for this long).
    pub stall_timeout: Duration,
    /// The slowest upload still considered alive, in bytes per second: a request body of `n` bytes
    /// gets `stall_timeout + n / min_upload_rate` to be sent and answered.
    pub min_upload_rate: u64,
    /// Allow `http://` to hosts other than this machine (a LAN server without a certificate).
    pub allow_plain_http: bool,
    /// The `Accept-Language` sent, so the server's own messages come in the person's language.
    pub lang: sotay_sync_core::Lang,
    /// Certificates (DER) of authorities to trust besides the bundled Mozilla roots: a commune's
    /// own authority, for a server on its LAN that no public authority can certify.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(30),
            min_upload_rate: 1024,
            allow_plain_http: false,
            lang: sotay_sync_core::Lang::Vi,
            extra_roots: Vec::new(),
        }
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

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    config: ClientConfig,
}

/// Makes ring the process's rustls crypto provider if none is set yet. reqwest is built without
/// one (no aws-lc C library on phones), so any `reqwest::Client` built elsewhere in a process that
/// links this crate needs this first; [`http_client`] and [`plain_client`] call it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A default `reqwest::Client` (tests and tools that talk to the server directly).
pub fn plain_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

/// The HTTP client with rustls over the bundled Mozilla roots (the same on every phone, whatever
/// its OS's store holds) and the authorities the configuration adds.
pub fn http_client(config: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in &config.extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| ClientError::BadCertificate(e.to_string()))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Protocol(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(config.connect_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Checks a server address: `https://`, or `http://` to this machine (or anywhere when allowed).
pub fn check_url(base: &str, allow_plain_http: bool) -> Result<String, ClientError> {
    let url = reqwest::Url::parse(base.trim()).map_err(|_| ClientError::BadUrl(base.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(ClientError::BadUrl(base.to_string())),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_plain_http => {}
        "http" => return Err(ClientError::InsecureUrl(url.host_str().unwrap_or_default().to_string())),
        _ => return Err(ClientError::BadUrl(base.to_string())),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl Client {
    /// A client of the server at `base` (`https://host`, or `http://127.0.0.1:port`).
    pub fn new(base: &str) -> Result<Client, ClientError> {
        Client::with_config(base, ClientConfig::default())
    }

    /// A client with its own network settings.
    pub fn with_config(base: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let base = check_url(base, config.allow_plain_http)?;
        Ok(Client { http: http_client(&config)?, base, config })
    }

    /// A client sharing an HTTP connection pool with others (many simulated devices).
    pub fn with_http(http: reqwest::Client, base: &str) -> Result<Client, ClientError> {
        let config = ClientConfig::default();
        Ok(Client { http, base: check_url(base, config.allow_plain_http)?, config })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The network settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).header("accept-language", self.config.lang.code())
    }

    async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &T,
    ) -> Result<R, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut request = self.request(reqwest::Method::POST, path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let bytes = self.send(request, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Enrols this device with a one-time code. With `secret` (chosen by the phone, kept before
    /// sending), a retry after a lost answer gets the same device.
    pub async fn enrol(
        &self,
        code: &str,
        device_name: &str,
        secret: Option<&str>,
    ) -> Result<EnrolResponse, ClientError> {
        let body = EnrolRequest {
            code: code.into(),
            device_name: device_name.into(),
            device_secret: secret.map(str::to_string),
        };
        self.post_json("/api/v1/enrol", None, &body).await
    }

    /// Exchanges the device secret for an access token.
    pub async fn token(&self, device_id: DeviceId, secret: &str) -> Result<TokenResponse, ClientError> {
        self.post_json("/api/v1/token", None, &TokenRequest { device_id, device_secret: secret.into() }).await
    }

    /// `POST /api/v1/login`: a person's name and password, checked (and throttled) by the server.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenResponse, ClientError> {
        let body = sotay_sync_core::protocol::LoginRequest { username: username.into(), password: password.into() };
        self.post_json("/api/v1/login", None, &body).await
    }

    /// `GET /api/v1/me`: the token's device and its user's current scope.
    pub async fn me(&self, token: &str) -> Result<MeResponse, ClientError> {
        let bytes = self.send(self.request(reqwest::Method::GET, "/api/v1/me").bearer_auth(token), Vec::new()).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A review action through the API (`approve`, or `return` with a comment): approving and
    /// returning are made by the server on its own copy, never pushed by a phone
    /// (`sotay_sync_core::rules`). The phone receives the result on its next sync.
    pub async fn review(&self, token: &str, id: RecordId, comment: Option<&str>) -> Result<(), ClientError> {
        let (action, body) = match comment {
            None => ("approve", serde_json::json!({})),
            Some(c) => ("return", serde_json::json!({ "comment": c })),
        };
        let _: serde_json::Value =
            self.post_json(&format!("/api/v1/records/{id}/{action}"), Some(token), &body).await?;
        Ok(())
    }

    /// One sync round trip with a prepared request.
    pub async fn sync_once(&self, token: &str, req: &SyncRequest) -> Result<(SyncResponse, WireStats), ClientError> {
        self.sync_raw(token, wire::encode(req)).await
    }

    /// One sync round trip with an already-encoded body (tests use this to resend exact bytes).
    pub async fn sync_raw(&self, token: &str, body: Vec<u8>) -> Result<(SyncResponse, WireStats), ClientError> {
        let request_bytes = body.len();
        let request = self
            .request(reqwest::Method::POST, "/api/v1/sync")
            .bearer_auth(token)
            .header("content-type", wire::CONTENT_TYPE);
        let bytes = self.send(request, body).await?;
        let response = wire::decode(&bytes, MAX_RESPONSE_BYTES).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((response, WireStats { request_bytes, response_bytes: bytes.len() }))
    }

    /// Sends a request and returns the body of a successful answer, or the server's error. The
    /// answer's head must arrive within the stall timeout plus the upload time of `body` at the
    /// slowest rate still considered alive; after that, every piece of the body within the stall
    /// timeout (a long download on a slow link is fine, a silent one is not).
    async fn send(&self, request: reqwest::RequestBuilder, body: Vec<u8>) -> Result<bytes::Bytes, ClientError> {
        let upload = Duration::from_secs(body.len() as u64 / self.config.min_upload_rate.max(1));
        let head_deadline = self.config.stall_timeout + upload;
        let request = if body.is_empty() { request } else { request.body(body) };
        let mut resp = tokio::time::timeout(head_deadline, request.send())
            .await
            .map_err(|_| ClientError::Interrupted("no answer in time".into()))??;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::with_capacity(resp.content_length().unwrap_or(0).min(1 << 20) as usize);
        loop {
            let chunk = tokio::time::timeout(self.config.stall_timeout, resp.chunk())
                .await
                .map_err(|_| ClientError::Interrupted("the answer stopped arriving".into()))??;
            match chunk {
                Some(c) => {
                    if bytes.len() + c.len() > MAX_RESPONSE_BYTES {
                        return Err(ClientError::Protocol("the answer is too large".into()));
                    }
                    bytes.extend_from_slice(&c);
                }
                None => break,
            }
        }
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &bytes, retry_after));
        }
        Ok(bytes.into())
    }
}

fn server_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if b.error == "device_revoked" => ClientError::Revoked,
        Ok(b) => ClientError::Server { status, code: b.error, message: b.message, retry_after },
        Err(_) => ClientError::Server {
            status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine_unless_allowed() {
        assert_eq!(check_url("http://127.0.0.1:8080/", false).unwrap(), "http://127.0.0.1:8080");
        assert!(check_url("http://localhost:1", false).is_ok());
        assert!(check_url("http://[::1]:1", false).is_ok());
        assert_eq!(check_url("https://sotay.example.vn", false).unwrap(), "https://sotay.example.vn");
        assert_eq!(check_url("http://192.168.1.10:8080", false).unwrap_err().code(), "insecure_url");
        assert!(check_url("http://192.168.1.10:8080", true).is_ok());
        assert_eq!(check_url("ftp://x", true).unwrap_err().code(), "bad_url");
        assert_eq!(check_url("not a url", true).unwrap_err().code(), "bad_url");
    }

    #[tokio::test]
    async fn https_is_spoken_with_rustls() {
        // A listener that answers a TLS hello with plain text: the handshake fails, which shows a
        // TLS client (not plain HTTP) was used, and the failure is one clear error.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        });
        let client = Client::new(&format!("https://localhost:{port}")).unwrap();
        let err = client.me("t").await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable(_) | ClientError::Interrupted(_)), "{err:?}");
    }
}
