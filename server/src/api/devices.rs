//! What a phone does before it syncs: enrol with a one-time code (throttled and audited per
//! address), exchange its secret for an access token, and ask who the token is.

use crate::api_doc::answer;
use crate::auth::AuthDevice;
use crate::error::{ApiError, body_rejection};
use crate::state::AppState;
use crate::throttle::{self, Action, Key};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use sotay_sync_core::protocol::{EnrolRequest, EnrolResponse, MeResponse, TokenRequest, TokenResponse};
use std::net::SocketAddr;

/// `POST /api/v1/enrol`: a phone enrols with a one-time code (throttled and audited per address).
#[utoipa::path(post, path = "/api/v1/enrol", tag = "devices", summary = "Enrol a phone with a one-time code",
    request_body = EnrolRequest,
    responses(
        (status = 200, description = "the device credential (the secret is shown once)", body = EnrolResponse),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 409, response = answer::Conflict),
        (status = 429, response = answer::TooManyRequests),
    ))]
pub(crate) async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<EnrolRequest>, JsonRejection>,
) -> Result<Json<EnrolResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let name = req.device_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest("device_name must be 1 to 100 characters".into()));
    }
    if req.device_secret.as_deref().is_some_and(|s| !sotay_sync_core::protocol::device_secret_is_acceptable(s)) {
        return Err(ApiError::BadRequest("device_secret must be 43 to 128 printable ASCII characters".into()));
    }
    let now = crate::now_ms();
    let ip = addr.ip().to_string();
    // Codes are guessed from an address, not for an account: throttled and audited per address.
    let keys = [Key { key: format!("enrol:{ip}"), user: None, clear_on_success: false }];
    let _held = state.throttle.lock(&keys, state.pressure.queue_wait()).await?;
    throttle::check(&state.db, &state.metrics, Action::Enrol, &keys, &ip, now).await?;
    Ok(Json(
        crate::credentials::enrol(&state.db, &req.code, name, req.device_secret.as_deref(), &ip, &keys, now).await?,
    ))
}

/// `POST /api/v1/token`: a device exchanges its secret for an access token.
#[utoipa::path(post, path = "/api/v1/token", tag = "devices", summary = "Exchange a device secret for an access token",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "a bearer token", body = TokenResponse),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub(crate) async fn token(
    State(state): State<AppState>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let ttl = state.limits.token_ttl_secs;
    Ok(Json(crate::credentials::token(&state.db, &state.keys, req.device_id, &req.device_secret, ttl).await?))
}

/// `GET /api/v1/me`: who this token is.
#[utoipa::path(get, path = "/api/v1/me", tag = "devices", summary = "Who this token is", security(("bearer" = [])),
    responses(
        (status = 200, description = "the device and its user", body = MeResponse),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub(crate) async fn me(auth: AuthDevice) -> Json<MeResponse> {
    Json(MeResponse {
        user_id: auth.user,
        device_id: auth.device,
        role: auth.role,
        commune_id: auth.commune,
        village_id: auth.village,
    })
}
