//! Passwords and web login: Argon2id hashes (computed a few at a time, `pressure.rs`), and
//! throttling by account and by client address (`throttle.rs`). Failures and successes are
//! audited; refused attempts are audited in aggregate. A successful login opens a web session,
//! which is a device of kind `web`: the same per-request check (and revocation) applies to it.

use crate::admin::audit;
use crate::auth::{self, Role};
use crate::error::{ApiError, body_rejection};
use crate::password::{dummy_hash, verify_password_in};
use crate::protocol::{LoginRequest, TokenResponse};
use crate::state::AppState;
use crate::throttle::{self, Action, Key};
use argon2::Block;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use sotay_sync_core::Coded;
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::Row;
use std::net::SocketAddr;

/// `POST /api/v1/login`: a web session for a person with a password.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let now = crate::now_ms();
    let ip = addr.ip().to_string();
    let row = sqlx::query(
        "SELECT id, password_hash, disabled_at, role, commune_id, village_id FROM users WHERE username = $1",
    )
    .bind(req.username.trim())
    .fetch_optional(&state.db.read)
    .await?;
    let user = row.as_ref().and_then(|r| UserId::from_slice(&r.get::<Vec<u8>, _>(0)));
    let keys = [
        Key { key: format!("user:{}", req.username.trim().to_lowercase()), user, clear_on_success: true },
        Key { key: format!("addr:{ip}"), user: None, clear_on_success: false },
    ];
    let _held = state.throttle.lock(&keys, state.pressure.queue_wait()).await?;
    throttle::check(&state.db, Action::Login, &keys, &ip, now).await?;
    let stored: Option<String> = row.as_ref().and_then(|r| r.get(1));
    let disabled = row.as_ref().is_some_and(|r| r.get::<Option<i64>, _>(2).is_some());
    let password = req.password;
    let hash = stored.clone();
    let check = move |memory: &mut Vec<Block>| {
        verify_password_in(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()), memory)
    };
    let verified = state.pressure.hash(check).await?;
    let ok = verified && stored.is_some() && !disabled;
    let mut tx = state.db.begin_write().await?;
    let Some(user) = user.filter(|_| ok) else {
        audit(&mut tx, user, None, "login.failure", None, &ip).await?;
        throttle::failed(&mut tx, Action::Login, &keys, now).await?;
        tx.commit().await?;
        return Err(ApiError::Unauthorized);
    };
    throttle::succeeded(&mut tx, &keys).await?;
    let row = row.ok_or(ApiError::Unauthorized)?;
    let role = Role::from_code(&row.get::<String, _>(3)).ok_or(ApiError::Unauthorized)?;
    let commune = CommuneId::from_slice(&row.get::<Vec<u8>, _>(4)).ok_or(ApiError::Unauthorized)?;
    let village = row.get::<Option<Vec<u8>>, _>(5).and_then(|v| VillageId::from_slice(&v));
    // One session device per person: the Automerge actor of everything they change in the web
    // app, so their edits are attributed to one device however often they log in. A revoked one
    // is replaced.
    let existing = sqlx::query(
        "SELECT id FROM devices WHERE user_id = $1 AND kind = 'web' AND revoked_at IS NULL ORDER BY enrolled_at DESC LIMIT 1",
    )
    .bind(user.as_bytes().as_slice())
    .fetch_optional(&mut *tx)
    .await?
    .and_then(|r| DeviceId::from_slice(&r.get::<Vec<u8>, _>(0)));
    let device = existing.unwrap_or_else(|| DeviceId(uuid::Uuid::new_v4()));
    let session =
        crate::auth::AuthDevice { device, user, role, commune, village, scope_changed: false, scope_unrecorded: false };
    if existing.is_some() {
        sqlx::query("UPDATE devices SET scope = $1, last_seen_at = $2 WHERE id = $3")
            .bind(session.scope_key())
            .bind(now)
            .bind(device.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    } else {
        let name = format!("web session from {}", addr.ip());
        let kind = crate::admin::DeviceKind::Web;
        crate::admin::insert_device(&mut tx, &session, &name, &auth::new_device_secret(), kind).await?;
    }
    audit(&mut tx, Some(user), Some(device), "login.success", None, &ip).await?;
    tx.commit().await?;
    let ttl = state.limits.token_ttl_secs;
    Ok(Json(TokenResponse { access_token: state.keys.issue(user, device, now as u64 / 1000, ttl), expires_in: ttl }))
}
