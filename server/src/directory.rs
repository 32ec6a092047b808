//! The commune as its administrator reads it: the users with their role, village and devices,
//! and the audit log searched newest first by action. Writes (creating villages and users,
//! enrolment codes, revocation) are `admin`'s; this module only reads, always within one commune.

use crate::admin::AuditPage;
use crate::db::Db;
use sotay_sync_core::{Coded, CommuneId, Role};
use sqlx::Row;

/// A user of the commune.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Village name, for collaborators.
    pub village: Option<String>,
    /// Devices not revoked.
    pub devices: i64,
    /// The account is disabled.
    pub disabled: bool,
}

/// The users of a commune, by role then name.
pub async fn users(db: &Db, commune: CommuneId) -> anyhow::Result<Vec<UserRow>> {
    let rows = sqlx::query(
        "SELECT u.username, u.display_name, u.role, v.name, CASE WHEN u.disabled_at IS NULL THEN 0 ELSE 1 END,
                (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL AND d.kind = 'phone')
         FROM users u LEFT JOIN villages v ON v.id = u.village_id
         WHERE u.commune_id = $1 ORDER BY u.role, u.username",
    )
    .bind(commune.as_bytes().as_slice())
    .fetch_all(&db.read)
    .await?;
    rows.iter()
        .map(|r| {
            let role =
                Role::from_code(&r.get::<String, _>(2)).ok_or_else(|| anyhow::anyhow!("a stored role is unknown"))?;
            Ok(UserRow {
                username: r.get(0),
                display_name: r.get(1),
                role,
                village: r.get(3),
                disabled: r.get::<i64, _>(4) == 1,
                devices: r.get(5),
            })
        })
        .collect()
}

/// The audit entries of a commune, newest first: those whose action starts with `action` (all if
/// empty), before the entry `before` (for the next page), at most `limit`.
pub async fn audit_search(
    db: &Db,
    commune: CommuneId,
    action: &str,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<AuditPage> {
    let rows = sqlx::query(
        "SELECT a.id, a.at, u.username, a.device_id, a.action, a.record_id, a.detail FROM audit_log a
         LEFT JOIN users u ON u.id = a.actor_user
         WHERE a.id < $1 AND substr(a.action, 1, CAST($2 AS INTEGER)) = $3
           AND (a.actor_user IN (SELECT id FROM users WHERE commune_id = $4)
             OR a.device_id IN (SELECT d.id FROM devices d JOIN users u2 ON u2.id = d.user_id WHERE u2.commune_id = $4))
         ORDER BY a.id DESC LIMIT $5",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(action.chars().count() as i64)
    .bind(action)
    .bind(commune.as_bytes().as_slice())
    .bind(limit + 1)
    .fetch_all(&db.read)
    .await?;
    Ok(crate::admin::audit_page_of(&rows, limit, |r| r.get(2)))
}
