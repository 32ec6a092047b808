//! Opening the embedded SQLite database: create if missing, pragmas for durability, migrations.
//!
//! Two pools: a single-connection writer (SQLite has one writer; serialising writes in-process
//! avoids `SQLITE_BUSY` on lock upgrades and makes the change-log sequence follow commit order)
//! and a reader pool (WAL lets readers run beside the writer).

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// The database handles.
#[derive(Debug, Clone)]
pub struct Db {
    /// One connection: every write transaction goes through it.
    pub write: SqlitePool,
    /// Readers.
    pub read: SqlitePool,
}

impl Db {
    /// Opens (creating and migrating if needed) the database at `url` (`sqlite://path`).
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        if url.starts_with("postgres") {
            anyhow::bail!("PostgreSQL is not supported by this build yet; use a sqlite:// URL");
        }
        let opts = SqliteConnectOptions::from_str(url)
            .with_context(|| "bad SQLite database URL".to_string())?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we acknowledge it to a phone (SPEC §4, no loss).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .context("opening the database")?;
        sotay_migrations::sqlite().run(&write).await.context("migrating the database")?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true))
            .await
            .context("opening the database for reading")?;
        Ok(Db { write, read })
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}
