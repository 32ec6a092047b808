//! The router: every route of the server in one table, plus enrolment, tokens and health.

use crate::auth::{self, AuthDevice, Role};
use crate::error::{ApiError, body_rejection};
use crate::protocol::{EnrolRequest, EnrolResponse, MeResponse, TokenRequest, TokenResponse};
use crate::state::AppState;
use crate::throttle::{self, Action, Key};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use sotay_sync_core::Coded;
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::Row;
use std::net::SocketAddr;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Every route: (method, path, handler). The router is built from this table, and the
/// authorization matrix test enumerates it, so a new route cannot escape that test.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    use crate::api;
    vec![
        ("GET", "/healthz", get(healthz)),
        ("GET", "/readyz", get(readyz)),
        ("GET", "/metrics", get(metrics)),
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
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.pressure.clone(), crate::pressure::bound))
        .layer(axum::middleware::from_fn_with_state(counters, crate::metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            // Path only: query strings could carry identifiers.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

async fn openapi() -> Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(crate::openapi::document).clone())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    sqlx::query("SELECT 1").execute(&state.db.read).await.map_err(|_| ApiError::Unavailable)?;
    Ok("ready")
}

async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<EnrolRequest>, JsonRejection>,
) -> Result<Json<EnrolResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let name = req.device_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest("device_name must be 1 to 100 characters".into()));
    }
    let now = crate::now_ms();
    let ip = addr.ip().to_string();
    // Codes are guessed from an address, not for an account: throttled and audited per address.
    let keys = [Key { key: format!("enrol:{ip}"), user: None, clear_on_success: false }];
    let _held = state.throttle.lock(&keys, state.pressure.queue_wait()).await?;
    throttle::check(&state.db, Action::Enrol, &keys, &ip, now).await?;
    let code_hash = auth::hash_secret(&auth::normalise_code(&req.code));
    let device = DeviceId(uuid::Uuid::new_v4());
    let secret = auth::new_device_secret();
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "SELECT c.user_id, c.expires_at, c.used_at, u.role, u.commune_id, u.village_id, u.disabled_at
         FROM enrolment_codes c JOIN users u ON u.id = c.user_id WHERE c.code_hash = $1",
    )
    .bind(code_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let refusal = match &row {
        None => Some((ApiError::Unauthorized, None)),
        Some(row) => {
            let user = UserId::from_slice(&row.get::<Vec<u8>, _>(0));
            if row.get::<Option<i64>, _>(2).is_some() {
                Some((ApiError::Conflict("this enrolment code has already been used".into()), user))
            } else if row.get::<i64, _>(1) < now || row.get::<Option<i64>, _>(6).is_some() {
                Some((ApiError::Unauthorized, user))
            } else {
                None
            }
        }
    };
    if let Some((error, user)) = refusal {
        crate::admin::audit(&mut tx, user, None, "enrol.failure", None, &ip).await?;
        throttle::failed(&mut tx, Action::Enrol, &keys, now).await?;
        tx.commit().await?;
        return Err(error);
    }
    let row = row.ok_or(ApiError::Unauthorized)?;
    let user = UserId::from_slice(&row.get::<Vec<u8>, _>(0)).ok_or_else(|| anyhow::anyhow!("bad user id"))?;
    let role = Role::from_code(&row.get::<String, _>(3)).ok_or_else(|| anyhow::anyhow!("bad role"))?;
    let commune = CommuneId::from_slice(&row.get::<Vec<u8>, _>(4)).ok_or_else(|| anyhow::anyhow!("bad commune"))?;
    let village = row.get::<Option<Vec<u8>>, _>(5).and_then(|v| VillageId::from_slice(&v));
    sqlx::query("UPDATE enrolment_codes SET used_at = $1, device_id = $2 WHERE code_hash = $3")
        .bind(now)
        .bind(device.as_bytes().as_slice())
        .bind(code_hash.as_slice())
        .execute(&mut *tx)
        .await?;
    let new = AuthDevice { device, user, role, commune, village, scope_changed: false, scope_unrecorded: false };
    crate::admin::insert_device(&mut tx, &new, name, &secret, crate::admin::DeviceKind::Phone).await?;
    crate::admin::audit(&mut tx, Some(user), Some(device), "device.enrol", None, &ip).await?;
    tx.commit().await?;
    tracing::info!(device = %device, user = %user, "device enrolled");
    Ok(Json(EnrolResponse {
        device_id: device,
        device_secret: secret,
        user_id: user,
        role,
        commune_id: commune,
        village_id: village,
    }))
}

async fn token(
    State(state): State<AppState>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let row = sqlx::query(
        "SELECT d.user_id, d.secret_hash, d.revoked_at, u.disabled_at FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(req.device_id.as_bytes().as_slice())
    .fetch_optional(&state.db.read)
    .await?
    .ok_or(ApiError::Unauthorized)?;
    let stored: Vec<u8> = row.get(1);
    if !auth::constant_time_eq(&stored, &auth::hash_secret(&req.device_secret)) {
        return Err(ApiError::Unauthorized);
    }
    if row.get::<Option<i64>, _>(2).is_some() {
        return Err(ApiError::DeviceRevoked);
    }
    if row.get::<Option<i64>, _>(3).is_some() {
        return Err(ApiError::Unauthorized);
    }
    let user = UserId::from_slice(&row.get::<Vec<u8>, _>(0)).ok_or_else(|| anyhow::anyhow!("bad user id"))?;
    // When the phone was last heard from, for admins looking for a lost one (once per token, not
    // per sync, to keep syncs free of extra writes).
    sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2")
        .bind(crate::now_ms())
        .bind(req.device_id.as_bytes().as_slice())
        .execute(&state.db.write)
        .await?;
    let ttl = state.limits.token_ttl_secs;
    let now_secs = crate::now_ms() as u64 / 1000;
    Ok(Json(TokenResponse { access_token: state.keys.issue(user, req.device_id, now_secs, ttl), expires_in: ttl }))
}

async fn me(auth: AuthDevice) -> Json<MeResponse> {
    Json(MeResponse {
        user_id: auth.user,
        device_id: auth.device,
        role: auth.role,
        commune_id: auth.commune,
        village_id: auth.village,
    })
}
