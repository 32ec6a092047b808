//! Passwords and web login: Argon2id hashes (computed a few at a time, `pressure.rs`), and
//! throttling by account and by client address (`throttle.rs`). Failures and successes are
//! audited; refused attempts are audited in aggregate. A successful login opens a web session,
//! which is a device of kind `web`: the same per-request check (and revocation) applies to it.

use crate::admin::audit;
use crate::auth::{self, Role};
use crate::error::{ApiError, body_rejection};
use crate::routes::TokenResponse;
use crate::state::AppState;
use crate::throttle::{self, Action, Key};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sotay_sync_core::Coded;
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::Row;
use std::net::SocketAddr;

/// Argon2id memory cost, KiB (19 MiB, the OWASP minimum).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id iterations.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id parallelism.
pub const ARGON2_PARALLELISM: u32 = 1;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM, None)
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (PHC string, with its parameters and a random salt).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("a password needs at least {MIN_PASSWORD_CHARS} characters");
    }
    let salt: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(argon2().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string())
}

/// Checks a password against a stored hash (its own parameters apply).
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_password_in(password, phc, &mut Vec::new())
}

/// Checks a password against a stored hash in memory the caller keeps between calls: the server
/// hashes in a few slots, each with its own 19 MiB, instead of allocating them per login (which
/// the allocator keeps per thread: a burst of logins left hundreds of MiB behind).
pub fn verify_password_in(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&hash), Algorithm::try_from(hash.algorithm)) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && auth::constant_time_eq(&out, expected.as_bytes())
}

/// A hash to verify against when the account does not exist, so timing does not tell.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password at all").expect("hashing a constant"))
}

/// Body of `POST /api/v1/login`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

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

/// Requires one of `roles`, else 403.
pub fn require(auth: &crate::auth::AuthDevice, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&auth.role) { Ok(()) } else { Err(ApiError::Forbidden("your role may not do this".into())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_the_required_parameters_and_verify() {
        let h = hash_password("mật khẩu đủ dài").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("mật khẩu đủ dài", &h));
        assert!(!verify_password("mật khẩu sai rồi", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(hash_password("short").is_err());
    }
}
