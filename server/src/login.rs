//! Passwords and web login: Argon2id hashes (computed a few at a time, `pressure.rs`), and
//! throttling by account and by client address (`throttle.rs`). Failures and successes are
//! audited; refused attempts are audited in aggregate. A successful login opens a web session,
//! which is a device of kind `web`: the same per-request check (and revocation) applies to it.

use crate::credentials;
use crate::error::{ApiError, body_rejection};
use crate::password::{dummy_hash, verify_password_in};
use crate::state::AppState;
use crate::throttle::{self, Action, Key};
use argon2::Block;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use sotay_sync_core::protocol::{LoginRequest, TokenResponse};
use sotay_sync_core::{DeviceId, UserId};
use std::net::SocketAddr;

/// `POST /api/v1/login`: a web session for a person with a password.
#[utoipa::path(post, path = "/api/v1/login", tag = "devices", summary = "Web login with a password (throttled)",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "a bearer token for a web session", body = TokenResponse),
        (status = 400, response = crate::api_doc::answer::BadRequest),
        (status = 401, response = crate::api_doc::answer::Unauthorized),
        (status = 429, response = crate::api_doc::answer::TooManyRequests),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let now = crate::now_ms();
    let (user, device) = password_login(&state, addr, &req.username, req.password).await?;
    let ttl = state.limits.token_ttl_secs;
    Ok(Json(TokenResponse { access_token: state.keys.issue(user, device, now as u64 / 1000, ttl), expires_in: ttl }))
}

/// Checks a person's password, throttled by account and by client address, and audited: the
/// user and their web session device (the JSON login and the web app's login form both call it).
pub async fn password_login(
    state: &AppState,
    addr: SocketAddr,
    username: &str,
    password: String,
) -> Result<(UserId, DeviceId), ApiError> {
    // Bounded before anything is looked up or counted: a name longer than any account's cannot
    // match, and must not become a throttle key or an audit row.
    if username.trim().is_empty() || username.trim().chars().count() > 64 || password.len() > 1024 {
        return Err(ApiError::BadRequest("username must be 1 to 64 characters, password at most 1024 bytes".into()));
    }
    let now = crate::now_ms();
    let ip = addr.ip().to_string();
    let account = credentials::account(&state.db, username.trim()).await?;
    let user = account.user;
    let keys = [
        Key { key: format!("user:{}", username.trim().to_lowercase()), user, clear_on_success: true },
        Key { key: format!("addr:{ip}"), user: None, clear_on_success: false },
    ];
    let _held = state.throttle.lock(&keys, state.pressure.queue_wait()).await?;
    throttle::check(&state.db, &state.metrics, Action::Login, &keys, &ip, now).await?;
    let hash = account.password_hash.clone();
    let check = move |memory: &mut Vec<Block>| {
        verify_password_in(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()), memory)
    };
    let verified = state.pressure.hash(check).await?;
    let ok = verified && account.password_hash.is_some() && !account.disabled;
    credentials::login(&state.db, account, ok, &ip, &keys, now).await
}
