//! The log epoch: 16 random bytes that name this database's change log. A server answers a sync
//! with it whenever the phone's differs (`SyncResponse::epoch`). `sotay admin restore` replaces
//! it, so every phone learns on its next sync that the log it knew is gone: what it sent after the
//! backup may be lost and its cursor means nothing in the restored log, so it provisions again and
//! sends all its own changes again (`sync-core`, `Device::apply_sync`).

use crate::db::Db;
use rand::RngExt;
use sqlx::Row;

/// The epoch, made on first start.
pub async fn load_or_create(db: &Db) -> anyhow::Result<[u8; 16]> {
    let fresh: [u8; 16] = rand::rng().random();
    sqlx::query("INSERT INTO server_state (name, value) VALUES ('log_epoch', $1) ON CONFLICT DO NOTHING")
        .bind(fresh.as_slice())
        .execute(&db.write)
        .await?;
    let row = sqlx::query("SELECT value FROM server_state WHERE name = 'log_epoch'").fetch_one(&db.write).await?;
    let value: Vec<u8> = row.get(0);
    <[u8; 16]>::try_from(value.as_slice()).map_err(|_| anyhow::anyhow!("the stored log epoch is not 16 bytes"))
}

/// Gives the database a new epoch (after it was restored from a backup).
pub async fn renew(db: &Db) -> anyhow::Result<()> {
    let fresh: [u8; 16] = rand::rng().random();
    sqlx::query("DELETE FROM server_state WHERE name = 'log_epoch'").execute(&db.write).await?;
    sqlx::query("INSERT INTO server_state (name, value) VALUES ('log_epoch', $1)")
        .bind(fresh.as_slice())
        .execute(&db.write)
        .await?;
    Ok(())
}
