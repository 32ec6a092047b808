//! Opening the database: an embedded SQLite file (default) or PostgreSQL, behind sqlx's `Any`
//! driver so one body of SQL serves both; create if missing, durability settings, migrations.
//!
//! Two pools: a single-connection writer (SQLite has one writer; serialising writes in-process
//! avoids `SQLITE_BUSY` on lock upgrades and makes the change-log sequence follow commit order;
//! on PostgreSQL the log lock in `sync/writer.rs` does that across instances) and a reader pool.
//!
//! The SQL is the common dialect of both: `$n` placeholders, `ON CONFLICT`, `TRUE`/`FALSE`.

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// Which database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The database handles.
#[derive(Debug, Clone)]
pub struct Db {
    /// One connection: every write transaction goes through it.
    pub write: AnyPool,
    /// Readers.
    pub read: AnyPool,
    /// The engine.
    pub backend: Backend,
}

/// How many reader connections each server instance opens.
pub const READERS: u32 = 8;

impl Db {
    /// Opens (creating and migrating if needed) the database at `url`: `sqlite://path` or
    /// `postgres://user@host/db`.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("the database URL must start with sqlite:// or postgres://");
        };
        let (write_url, read_url) = match backend {
            Backend::Sqlite => (with_param(url, "mode=rwc"), with_param(url, "mode=ro")),
            Backend::Postgres => (url.to_string(), url.to_string()),
        };
        let write = pool(backend, 1, &write_url).await.context("opening the database")?;
        let migrator = match backend {
            Backend::Sqlite => sotay_migrations::sqlite(),
            Backend::Postgres => sotay_migrations::postgres(),
        };
        migrator.run(&write).await.context("migrating the database")?;
        let read = pool(backend, READERS, &read_url).await.context("opening the database for reading")?;
        Ok(Db { write, read, backend })
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

async fn pool(backend: Backend, connections: u32, url: &str) -> sqlx::Result<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL: readers beside the writer. FULL: a commit is on disk before a phone
                    // is told it is stored (SPEC §4, no loss).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

fn with_param(url: &str, param: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}
