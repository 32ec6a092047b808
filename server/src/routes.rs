//! The router: every route of the server in one table, plus enrolment, tokens and health.

use crate::auth::AuthDevice;
use crate::error::{ApiError, body_rejection};
use crate::openapi::answer;
use crate::state::AppState;
use crate::telemetry::REQUEST_ID_HEADER;
use crate::throttle::{self, Action, Key};
use axum::extract::MatchedPath;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use sotay_sync_core::protocol::{EnrolRequest, EnrolResponse, MeResponse, TokenRequest, TokenResponse};
use std::net::SocketAddr;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// Every route: (method, path, handler). The router is built from this table, and the
/// authorization matrix test enumerates it, so a new route cannot escape that test.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    use crate::api;
    vec![
        ("GET", "/healthz", get(healthz)),
        ("GET", "/readyz", get(readyz)),
        ("GET", "/openapi.json", get(openapi)),
        ("POST", "/api/v1/enrol", post(enrol)),
        ("POST", "/api/v1/token", post(token)),
        ("POST", "/api/v1/login", post(crate::login::login)),
        ("POST", "/api/v1/sync", post(crate::sync::sync)),
        ("GET", "/api/v1/me", get(me)),
        ("GET", "/api/v1/records", get(api::list_records)),
        ("GET", "/api/v1/records/{id}", get(api::get_record)),
        ("POST", "/api/v1/records/{id}/approve", post(api::approve)),
        ("POST", "/api/v1/records/{id}/return", post(api::return_record)),
        ("POST", "/api/v1/records/{id}/case-status", post(api::case_status)),
        ("POST", "/api/v1/records/{id}/purge-history", post(api::actions::purge_history)),
        ("POST", "/api/v1/records/{id}/resolve", post(api::actions::resolve)),
        ("POST", "/api/v1/records/{id}/restore", post(api::actions::restore)),
        ("GET", "/api/v1/records/{id}/history", get(api::actions::history)),
        ("GET", "/api/v1/duplicates", get(api::actions::duplicate_queue)),
        ("POST", "/api/v1/duplicates/merge", post(api::actions::merge)),
        ("POST", "/api/v1/duplicates/dismiss", post(api::actions::dismiss)),
        ("GET", "/api/v1/reports/gbv", get(api::gbv_report)),
        ("GET", "/api/v1/reports", get(api::reports::report)),
        ("GET", "/api/v1/reports/completeness", get(api::reports::completeness)),
        ("GET", "/api/v1/reports/export", get(api::reports::export)),
        ("GET", "/api/v1/villages", get(api::reports::villages)),
        ("GET", "/api/v1/units", get(api::reports::units)),
        ("GET", "/api/v1/admin/users/{username}/devices", get(api::user_devices)),
        ("POST", "/api/v1/admin/devices/{id}/revoke", post(api::revoke_device)),
        ("GET", "/api/v1/admin/audit", get(api::audit_log)),
    ]
}

/// Builds the application.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    let counters = state.metrics.clone();
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    let web = crate::web::route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .layer(axum::middleware::from_fn(crate::web::forms_from_this_site))
        .layer(axum::middleware::from_fn(crate::web::security_headers));
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .merge(web)
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.pressure.clone(), crate::pressure::bound))
        .layer(axum::middleware::from_fn_with_state(counters, crate::metrics::track))
        // A bug that panics in a handler answers 500 like any internal error (and is logged with
        // the request id), instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(axum::middleware::from_fn(crate::telemetry::with_request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                    // The route template, not the path: paths carry record ids and user names.
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
                    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub(crate) async fn openapi() -> Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(crate::openapi::document).clone())
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", summary = "The process is up",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", summary = "The database answers",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, response = answer::Unavailable),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.db.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok("ready")
}

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
