//! Administration on the database: communes (and their reporting deadline, [`Deadline`]),
//! villages, units, users, enrolment codes, devices and the audit log. `sotay admin …` runs these
//! against the server's database; tests and the benchmark use them to set up a commune.

mod deadline;

pub use deadline::{Deadline, DeadlineError, set_report_deadline};

use crate::auth::{self, Role};
use crate::db::Db;
use anyhow::{Context, bail};
use sotay_sync_core::Coded;
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

/// Appends to the audit log inside a transaction.
pub async fn audit(
    tx: &mut Transaction<'_, Any>,
    user: Option<UserId>,
    device: Option<DeviceId>,
    action: &str,
    record: Option<&[u8]>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user, device_id, action, record_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::now_ms())
    .bind(user.map(|u| u.as_bytes().to_vec()))
    .bind(device.map(|d| d.as_bytes().to_vec()))
    .bind(action)
    .bind(record)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Phone or web session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A phone (or a `sotay` directory), enrolled with a code.
    Phone,
    /// A web session, opened by a password login.
    Web,
}

/// Registers a device inside a transaction; only a hash of its secret is kept.
pub async fn insert_device(
    tx: &mut Transaction<'_, Any>,
    auth: &crate::auth::AuthDevice,
    name: &str,
    secret: &str,
    kind: DeviceKind,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO devices (id, user_id, name, secret_hash, enrolled_at, scope, kind) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(auth.device.as_bytes().as_slice())
    .bind(auth.user.as_bytes().as_slice())
    .bind(name)
    .bind(crate::auth::hash_secret(secret))
    .bind(crate::now_ms())
    .bind(auth.scope_key())
    .bind(if kind == DeviceKind::Web { "web" } else { "phone" })
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates a commune.
pub async fn create_commune(db: &Db, name: &str) -> anyhow::Result<CommuneId> {
    let id = CommuneId(Uuid::now_v7());
    sqlx::query("INSERT INTO communes (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id.as_bytes().as_slice())
        .bind(name.trim())
        .bind(crate::now_ms())
        .execute(&db.write)
        .await?;
    Ok(id)
}

/// Creates a village of a commune.
pub async fn create_village(db: &Db, commune: CommuneId, name: &str) -> anyhow::Result<VillageId> {
    let id = VillageId(Uuid::now_v7());
    sqlx::query("INSERT INTO villages (id, commune_id, name) VALUES ($1, $2, $3)")
        .bind(id.as_bytes().as_slice())
        .bind(commune.as_bytes().as_slice())
        .bind(name.trim())
        .execute(&db.write)
        .await
        .context("creating the village (does the commune exist? is the name taken?)")?;
    Ok(id)
}

/// Creates an organising unit of a commune.
pub async fn create_unit(db: &Db, commune: CommuneId, code: &str, name: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO units (commune_id, code, name) VALUES ($1, $2, $3)")
        .bind(commune.as_bytes().as_slice())
        .bind(code.trim())
        .bind(name.trim())
        .execute(&db.write)
        .await
        .context("creating the unit")?;
    Ok(())
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Login name, unique.
    pub username: &'a str,
    /// Name shown to people.
    pub display_name: &'a str,
    /// Role.
    pub role: Role,
    /// Commune.
    pub commune: CommuneId,
    /// Village (required for collaborators).
    pub village: Option<VillageId>,
}

/// Creates a user.
pub async fn create_user(db: &Db, u: NewUser<'_>) -> anyhow::Result<UserId> {
    if u.role == Role::Collaborator && u.village.is_none() {
        bail!("a collaborator belongs to a village: give --village");
    }
    let id = UserId(Uuid::now_v7());
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO users (id, commune_id, village_id, username, display_name, role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_bytes().as_slice())
    .bind(u.commune.as_bytes().as_slice())
    .bind(u.village.map(|v| v.as_bytes().to_vec()))
    .bind(u.username.trim())
    .bind(u.display_name.trim())
    .bind(u.role.code())
    .bind(crate::now_ms())
    .execute(&mut *tx)
    .await
    .context("creating the user (is the username taken? does the village exist?)")?;
    audit(&mut tx, Some(id), None, "user.create", None, u.role.code()).await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a user's password (Argon2id).
pub async fn set_password(db: &Db, user: UserId, password: &str) -> anyhow::Result<()> {
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || crate::password::hash_password(&password)).await??;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(user), None, "user.password", None, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a user's role (and village: collaborators need one).
pub async fn set_role(db: &Db, user: UserId, role: Role, village: Option<VillageId>) -> anyhow::Result<()> {
    if role == Role::Collaborator && village.is_none() {
        bail!("a collaborator belongs to a village: give --village");
    }
    let mut tx = db.begin_write().await?;
    let old: String = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(user.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await?
        .context("no such user")?
        .get(0);
    sqlx::query("UPDATE users SET role = $1, village_id = $2 WHERE id = $3")
        .bind(role.code())
        .bind(village.map(|v| v.as_bytes().to_vec()))
        .bind(user.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(user), None, "user.role", None, &format!("{old} -> {}", role.code())).await?;
    tx.commit().await?;
    Ok(())
}

/// The user with this username.
pub async fn user_by_name(db: &Db, username: &str) -> anyhow::Result<UserId> {
    let row = sqlx::query("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&db.read)
        .await?
        .with_context(|| format!("no user {username:?}"))?;
    UserId::from_slice(&row.get::<Vec<u8>, _>(0)).context("bad user id")
}

/// Issues a one-time enrolment code for a user's phone, valid for `ttl_secs`. Only its hash is stored.
pub async fn issue_enrolment_code(db: &Db, user: UserId, ttl_secs: u64) -> anyhow::Result<String> {
    let code = auth::new_enrolment_code();
    let now = crate::now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO enrolment_codes (code_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(auth::hash_secret(&auth::normalise_code(&code)))
        .bind(user.as_bytes().as_slice())
        .bind(now)
        .bind(now + (ttl_secs as i64) * 1000)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, Some(user), None, "enrolment_code.issue", None, "").await?;
    tx.commit().await?;
    Ok(code)
}

/// A device of a user, for listing.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceInfo {
    /// Device id.
    pub id: DeviceId,
    /// Name given at enrolment.
    pub name: String,
    /// When it enrolled (Unix ms).
    pub enrolled_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When it last asked for an access token.
    pub last_seen_at: Option<i64>,
}

/// The devices of a user.
pub async fn list_devices(db: &Db, user: UserId) -> anyhow::Result<Vec<DeviceInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, enrolled_at, revoked_at, last_seen_at FROM devices WHERE user_id = $1 ORDER BY enrolled_at",
    )
    .bind(user.as_bytes().as_slice())
    .fetch_all(&db.read)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DeviceInfo {
                id: DeviceId::from_slice(&r.get::<Vec<u8>, _>(0)).context("bad device id")?,
                name: r.get(1),
                enrolled_at: r.get(2),
                revoked_at: r.get(3),
                last_seen_at: r.get(4),
            })
        })
        .collect()
}

/// Revokes a device: refused from its next request on, and told to wipe its GBV data.
pub async fn revoke_device(db: &Db, device: DeviceId) -> anyhow::Result<()> {
    revoke_device_by(db, device, None).await
}

/// Revokes a device, recording which admin did it.
pub async fn revoke_device_by(db: &Db, device: DeviceId, by: Option<UserId>) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(crate::now_ms())
        .bind(device.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        bail!("no active device {device}");
    }
    let detail = by.map(|u| format!("by {u}")).unwrap_or_else(|| "by sotay admin".into());
    audit(&mut tx, by, Some(device), "device.revoke", None, &detail).await?;
    tx.commit().await?;
    Ok(())
}

/// The commune of a device's user, if the device exists.
pub async fn device_commune(db: &Db, device: DeviceId) -> sqlx::Result<Option<CommuneId>> {
    let row = sqlx::query("SELECT u.commune_id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1")
        .bind(device.as_bytes().as_slice())
        .fetch_optional(&db.read)
        .await?;
    Ok(row.and_then(|r| CommuneId::from_slice(&r.get::<Vec<u8>, _>(0))))
}

/// A user of this commune, by login name.
pub async fn user_in_commune(db: &Db, commune: CommuneId, username: &str) -> sqlx::Result<Option<UserId>> {
    let row = sqlx::query("SELECT id FROM users WHERE username = $1 AND commune_id = $2")
        .bind(username)
        .bind(commune.as_bytes().as_slice())
        .fetch_optional(&db.read)
        .await?;
    Ok(row.and_then(|r| UserId::from_slice(&r.get::<Vec<u8>, _>(0))))
}

/// A commune's name and report deadline (`MM-DD`).
pub async fn commune_info(db: &Db, commune: CommuneId) -> sqlx::Result<(String, String)> {
    let row = sqlx::query("SELECT name, report_deadline FROM communes WHERE id = $1")
        .bind(commune.as_bytes().as_slice())
        .fetch_one(&db.read)
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// A commune's villages (id, name), by name.
pub async fn villages(db: &Db, commune: CommuneId) -> anyhow::Result<Vec<(VillageId, String)>> {
    let rows = sqlx::query("SELECT id, name FROM villages WHERE commune_id = $1 ORDER BY name")
        .bind(commune.as_bytes().as_slice())
        .fetch_all(&db.read)
        .await?;
    rows.iter()
        .map(|r| {
            let id = VillageId::from_slice(&r.get::<Vec<u8>, _>(0)).context("a stored village id is corrupt")?;
            Ok((id, r.get(1)))
        })
        .collect()
}

/// A commune's organising units (code, name), by name.
pub async fn units(db: &Db, commune: CommuneId) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT code, name FROM units WHERE commune_id = $1 ORDER BY name")
        .bind(commune.as_bytes().as_slice())
        .fetch_all(&db.read)
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The names people read for a commune's users and devices (user name; device name), by id:
/// who entered a value, on which phone.
pub async fn people_and_devices(
    db: &Db,
    commune: CommuneId,
) -> sqlx::Result<(std::collections::HashMap<UserId, String>, std::collections::HashMap<DeviceId, String>)> {
    let users = sqlx::query("SELECT id, username FROM users WHERE commune_id = $1")
        .bind(commune.as_bytes().as_slice())
        .fetch_all(&db.read)
        .await?;
    let devices =
        sqlx::query("SELECT d.id, d.name FROM devices d JOIN users u ON u.id = d.user_id WHERE u.commune_id = $1")
            .bind(commune.as_bytes().as_slice())
            .fetch_all(&db.read)
            .await?;
    Ok((
        users.iter().filter_map(|r| Some((UserId::from_slice(&r.get::<Vec<u8>, _>(0))?, r.get(1)))).collect(),
        devices.iter().filter_map(|r| Some((DeviceId::from_slice(&r.get::<Vec<u8>, _>(0))?, r.get(1)))).collect(),
    ))
}

/// Writes one audit row in a transaction of its own (for an event that changes nothing else).
pub async fn audit_event(
    db: &Db,
    user: Option<UserId>,
    device: Option<DeviceId>,
    action: &str,
    detail: &str,
) -> sqlx::Result<()> {
    let mut tx = db.begin_write().await?;
    audit(&mut tx, user, device, action, None, detail).await?;
    tx.commit().await
}

/// One audit entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub id: i64,
    /// When (Unix ms).
    pub at: i64,
    /// Who.
    pub user: Option<String>,
    /// Which device.
    pub device: Option<String>,
    /// What.
    pub action: String,
    /// Which record.
    pub record: Option<String>,
    /// More.
    pub detail: String,
}

/// A page of the audit log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// The audit log, oldest first, after entry `after`, at most `limit` entries. With a commune,
/// only the entries about its people: their own actions, and refusals and failures naming their
/// accounts or devices (entries about no known account, such as a wrong enrolment code from an
/// unknown address, belong to the operator, who reads them with `sotay admin audit`).
pub async fn audit_page(db: &Db, commune: Option<CommuneId>, after: i64, limit: i64) -> anyhow::Result<AuditPage> {
    let commune = commune.map(|c| c.as_bytes().to_vec());
    let rows = sqlx::query(
        "SELECT id, at, actor_user, device_id, action, record_id, detail FROM audit_log
         WHERE id > $1 AND ($2 IS NULL
             OR actor_user IN (SELECT id FROM users WHERE commune_id = $2)
             OR device_id IN (SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.commune_id = $2))
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(commune)
    .bind(limit + 1)
    .fetch_all(&db.read)
    .await?;
    Ok(audit_page_of(&rows, limit, |r| uuid_text(r.get(2))))
}

fn uuid_text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.and_then(|b| Uuid::from_slice(&b).ok()).map(|u| u.to_string())
}

/// A page of audit entries from rows of (id, at, user, device, action, record, detail), fetched
/// one past `limit` to know whether there is more; `user` reads the user column.
pub(crate) fn audit_page_of(
    rows: &[sqlx::any::AnyRow],
    limit: i64,
    user: impl Fn(&sqlx::any::AnyRow) -> Option<String>,
) -> AuditPage {
    let mut entries: Vec<AuditEntry> = rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            user: user(r),
            device: uuid_text(r.get(3)),
            action: r.get(4),
            record: uuid_text(r.get(5)),
            detail: r.get(6),
        })
        .collect();
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_cursor = more.then(|| entries.last().map(|e| e.id)).flatten();
    AuditPage { entries, next_cursor }
}

/// The whole audit log, oldest first (for the operator's command line).
pub async fn list_audit(db: &Db) -> anyhow::Result<Vec<AuditEntry>> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = audit_page(db, None, after, 10_000).await?;
        all.extend(page.entries);
        match page.next_cursor {
            Some(next) => after = next,
            None => return Ok(all),
        }
    }
}

/// Writes a consistent copy of a live SQLite database to `file` (which must not exist), while
/// phones go on syncing: `VACUUM INTO` reads one snapshot of the database, write-ahead log
/// included, and writes it compacted into one self-contained file. PostgreSQL has its own tools.
pub async fn backup(db: &Db, file: &std::path::Path) -> anyhow::Result<()> {
    if db.backend != crate::db::Backend::Sqlite {
        bail!("this database is PostgreSQL: back it up with pg_dump (and WAL archiving), see docs/operations.md");
    }
    if file.exists() {
        bail!("{} already exists: choose a new file name", file.display());
    }
    let path = file.to_str().context("the backup file name must be valid UTF-8")?;
    // The copy holds what the database holds: private from the start.
    crate::db::create_private(file)?;
    if let Err(e) = sqlx::query("VACUUM INTO $1").bind(path).execute(&db.read).await {
        let _ = std::fs::remove_file(file);
        return Err(anyhow::Error::from(e).context("writing the backup"));
    }
    Ok(())
}

/// Replaces the stored token signing key with a new random one (`sotay admin rotate-signing-key`),
/// audited. Servers keep the key they loaded until they restart; from then on every token signed
/// with the old key is refused (phones fetch a new one by themselves; people sign in again).
pub async fn rotate_signing_key(db: &Db) -> anyhow::Result<()> {
    let fresh: [u8; 32] = rand::RngExt::random(&mut rand::rng());
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE server_keys SET secret = $1, created_at = $2 WHERE name = 'jwt_hs256'")
        .bind(fresh.as_slice())
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, None, None, "key.rotate", None, "token signing key").await?;
    tx.commit().await?;
    Ok(())
}

/// The file a running server writes its process id in, beside its SQLite database.
pub fn pid_file(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".pid");
    std::path::PathBuf::from(name)
}

/// Puts a backup back as the SQLite database of `url`, refusing while a server runs on it, and
/// gives it a new log epoch (`store::epoch`), so that every phone provisions again on its next
/// sync and sends again what the restored database lacks. PostgreSQL restores with its own tools.
pub async fn restore(url: &str, backup: &std::path::Path) -> anyhow::Result<()> {
    let Some(path) = crate::db::sqlite_path(url) else {
        bail!("this database is PostgreSQL: restore it with pg_restore, see docs/operations.md");
    };
    if let Ok(pid) = std::fs::read_to_string(pid_file(&path))
        && std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    {
        bail!("a sotay-server (process {}) is running on {}: stop it first", pid.trim(), path.display());
    }
    // The backup must be a Sổ Tay database this version can open: check it before touching anything.
    {
        let copy = Db::open(&format!("sqlite://{}", backup.display()))
            .await
            .with_context(|| format!("{} is not a database this server can open", backup.display()))?;
        let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&copy.read).await?.get(0);
        if check != "ok" {
            bail!("{} is damaged (integrity check: {check})", backup.display());
        }
        copy.write.close().await;
        copy.read.close().await;
    }
    let staged = path.with_extension("restoring");
    std::fs::copy(backup, &staged).with_context(|| format!("copying {} to {}", backup.display(), staged.display()))?;
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
    std::fs::rename(&staged, &path).with_context(|| format!("putting the backup in place at {}", path.display()))?;
    let db = Db::open(url).await?;
    crate::store::epoch::renew(&db).await?;
    let mut tx = db.begin_write().await?;
    audit(&mut tx, None, None, "database.restore", None, &backup.display().to_string()).await?;
    tx.commit().await?;
    db.write.close().await;
    db.read.close().await;
    Ok(())
}
