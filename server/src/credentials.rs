//! Credentials, in the database: a one-time enrolment code becomes a phone (the code marked used,
//! the device, the audit row and, when it fails, the throttle count, all in one transaction); a
//! device secret becomes an access token; a checked password becomes a web session on the
//! person's one session device. The handlers (`routes.rs`, `login.rs`) parse, throttle and hash;
//! the SQL is here.

use crate::admin::{self, audit};
use crate::auth::{self, AuthDevice, Keys, Role};
use crate::db::Db;
use crate::error::ApiError;
use crate::throttle::{self, Action, Key};
use sotay_sync_core::Coded;
use sotay_sync_core::protocol::{EnrolResponse, TokenResponse};
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::Row;

/// Enrols a phone named `name` with `code`, from client address `ip`; a failure is audited and
/// counted on the throttle `keys` (held by the caller). With a phone-chosen `secret`, a retry of
/// an enrolment whose answer was lost (the code already used by the device holding that secret)
/// gets the same device again.
pub async fn enrol(
    db: &Db,
    code: &str,
    name: &str,
    chosen_secret: Option<&str>,
    ip: &str,
    keys: &[Key],
    now: i64,
) -> Result<EnrolResponse, ApiError> {
    let code_hash = auth::hash_secret(&auth::normalise_code(code));
    let device = DeviceId(uuid::Uuid::new_v4());
    let secret = chosen_secret.map_or_else(auth::new_device_secret, str::to_string);
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT c.user_id, c.expires_at, c.used_at, u.role, u.commune_id, u.village_id, u.disabled_at,
                d.id, d.secret_hash, d.revoked_at
         FROM enrolment_codes c JOIN users u ON u.id = c.user_id LEFT JOIN devices d ON d.id = c.device_id
         WHERE c.code_hash = $1",
    )
    .bind(code_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let refusal = match &row {
        None => Some((ApiError::Unauthorized, None)),
        Some(row) => {
            let user = UserId::from_slice(&row.get::<Vec<u8>, _>(0));
            if row.get::<Option<i64>, _>(2).is_some() {
                if let Some(again) = retried_enrolment(row, chosen_secret) {
                    // The same phone asking again: its answer was lost. Nothing new is written.
                    tx.commit().await?;
                    return Ok(again);
                }
                Some((ApiError::Conflict("this enrolment code has already been used".into()), user))
            } else if row.get::<i64, _>(1) < now || row.get::<Option<i64>, _>(6).is_some() {
                Some((ApiError::Unauthorized, user))
            } else {
                None
            }
        }
    };
    if let Some((error, user)) = refusal {
        admin::audit(&mut tx, user, None, "enrol.failure", None, ip).await?;
        throttle::failed(&mut tx, Action::Enrol, keys, now).await?;
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
    admin::insert_device(&mut tx, &new, name, &secret, admin::DeviceKind::Phone).await?;
    admin::audit(&mut tx, Some(user), Some(device), "device.enrol", None, ip).await?;
    tx.commit().await?;
    tracing::info!(device = %device, user = %user, "device enrolled");
    Ok(EnrolResponse {
        device_id: device,
        device_secret: secret,
        user_id: user,
        role,
        commune_id: commune,
        village_id: village,
    })
}

/// The answer of an enrolment already made, if `secret` is the secret of the device the code
/// enrolled and that device is neither revoked nor its user disabled.
fn retried_enrolment(row: &sqlx::any::AnyRow, secret: Option<&str>) -> Option<EnrolResponse> {
    let secret = secret?;
    let stored: Vec<u8> = row.get::<Option<Vec<u8>>, _>(8)?;
    if !auth::constant_time_eq(&stored, &auth::hash_secret(secret))
        || row.get::<Option<i64>, _>(9).is_some()
        || row.get::<Option<i64>, _>(6).is_some()
    {
        return None;
    }
    Some(EnrolResponse {
        device_id: DeviceId::from_slice(&row.get::<Option<Vec<u8>>, _>(7)?)?,
        device_secret: secret.to_string(),
        user_id: UserId::from_slice(&row.get::<Vec<u8>, _>(0))?,
        role: Role::from_code(&row.get::<String, _>(3))?,
        commune_id: CommuneId::from_slice(&row.get::<Vec<u8>, _>(4))?,
        village_id: row.get::<Option<Vec<u8>>, _>(5).and_then(|v| VillageId::from_slice(&v)),
    })
}

/// An access token for a device that proves its secret; `ttl` in seconds.
pub async fn token(db: &Db, keys: &Keys, device: DeviceId, secret: &str, ttl: u64) -> Result<TokenResponse, ApiError> {
    let row = sqlx::query(
        "SELECT d.user_id, d.secret_hash, d.revoked_at, u.disabled_at FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(device.as_bytes().as_slice())
    .fetch_optional(&db.read)
    .await?
    .ok_or(ApiError::Unauthorized)?;
    let stored: Vec<u8> = row.get(1);
    if !auth::constant_time_eq(&stored, &auth::hash_secret(secret)) {
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
        .bind(device.as_bytes().as_slice())
        .execute(&db.write)
        .await?;
    let now_secs = crate::now_ms() as u64 / 1000;
    Ok(TokenResponse { access_token: keys.issue(user, device, now_secs, ttl), expires_in: ttl })
}

/// An account as a password login sees it.
pub struct Account {
    /// The user, if the name exists.
    pub user: Option<UserId>,
    /// Its password hash, if it has one.
    pub password_hash: Option<String>,
    /// Disabled accounts never log in.
    pub disabled: bool,
    role: Option<Role>,
    commune: Option<CommuneId>,
    village: Option<VillageId>,
}

/// The account with this login name (all empty if there is none, so the caller can still spend
/// the same time hashing).
pub async fn account(db: &Db, username: &str) -> sqlx::Result<Account> {
    let row = sqlx::query(
        "SELECT id, password_hash, disabled_at, role, commune_id, village_id FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(&db.read)
    .await?;
    Ok(Account {
        user: row.as_ref().and_then(|r| UserId::from_slice(&r.get::<Vec<u8>, _>(0))),
        password_hash: row.as_ref().and_then(|r| r.get(1)),
        disabled: row.as_ref().is_some_and(|r| r.get::<Option<i64>, _>(2).is_some()),
        role: row.as_ref().and_then(|r| Role::from_code(&r.get::<String, _>(3))),
        commune: row.as_ref().and_then(|r| CommuneId::from_slice(&r.get::<Vec<u8>, _>(4))),
        village: row.as_ref().and_then(|r| r.get::<Option<Vec<u8>>, _>(5)).and_then(|v| VillageId::from_slice(&v)),
    })
}

/// Records a login attempt whose password was checked (`ok`): a failure is audited and counted on
/// the throttle `keys`; a success clears the account's failures and opens a session on the
/// person's session device. Returns the user and that device, for the access token.
pub async fn login(
    db: &Db,
    account: Account,
    ok: bool,
    ip: &str,
    keys: &[Key],
    now: i64,
) -> Result<(UserId, DeviceId), ApiError> {
    let user = account.user;
    let mut tx = db.begin_write().await?;
    let Some(user) = user.filter(|_| ok) else {
        audit(&mut tx, user, None, "login.failure", None, ip).await?;
        throttle::failed(&mut tx, Action::Login, keys, now).await?;
        tx.commit().await?;
        return Err(ApiError::Unauthorized);
    };
    throttle::succeeded(&mut tx, keys).await?;
    let (role, commune) = account.role.zip(account.commune).ok_or(ApiError::Unauthorized)?;
    let village = account.village;
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
    let session = AuthDevice { device, user, role, commune, village, scope_changed: false, scope_unrecorded: false };
    if existing.is_some() {
        sqlx::query("UPDATE devices SET scope = $1, last_seen_at = $2 WHERE id = $3")
            .bind(session.scope_key())
            .bind(now)
            .bind(device.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    } else {
        let name = format!("web session from {ip}");
        let kind = admin::DeviceKind::Web;
        admin::insert_device(&mut tx, &session, &name, &auth::new_device_secret(), kind).await?;
    }
    audit(&mut tx, Some(user), Some(device), "login.success", None, ip).await?;
    tx.commit().await?;
    Ok((user, device))
}
