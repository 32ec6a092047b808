//! Opening the database: an embedded SQLite file (default) or PostgreSQL, behind sqlx's `Any`
//! driver so one body of SQL serves both; create if missing, durability settings, migrations.
//!
//! Two pools: a single-connection writer (SQLite has one writer; serialising writes in-process
//! avoids `SQLITE_BUSY` on lock upgrades and makes the change-log sequence follow commit order;
//! on PostgreSQL the log lock in `store/writer.rs` does that across instances) and a reader pool.
//!
//! The SQL is the common dialect of both: `$n` placeholders, `ON CONFLICT`, `TRUE`/`FALSE`.
//!
//! A busy database is waited for, then answered 503: every write transaction starts with
//! [`Db::begin_write`] (on SQLite `BEGIN IMMEDIATE`, so the write lock is taken, or waited for
//! with the busy timeout, before anything is read: a deferred transaction that upgrades fails at
//! once with "database is locked" when another process wrote in between), and [`is_transient`]
//! names the errors that mean "try again shortly" (`error.rs` answers them 503 with Retry-After).

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};
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
    /// The file, for SQLite.
    pub sqlite_path: Option<std::path::PathBuf>,
    /// How long write transactions waited to begin (`metrics.rs` exports it).
    pub write_wait: prometheus_client::metrics::histogram::Histogram,
}

/// The file of an `sqlite://` URL (its query string left out), or `None` for another engine.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Creates an empty SQLite file readable by the server's user only (mode 0600), if there is none:
/// it holds GBV cases and the token signing key. SQLite gives its journal files the same mode.
/// Backups are made the same way.
pub fn create_private(path: &std::path::Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot create the database file {}: {e}", path.display())),
    }
}

/// How many reader connections each server instance opens.
pub const READERS: u32 = 8;

/// Rows per multi-row `INSERT` (SQLite allows 32,766 parameters; 64 rows of a dozen columns stay
/// far below, and PostgreSQL's 65,535).
pub const ROWS_PER_INSERT: usize = 64;

/// `head VALUES (…), (…) tail` for `rows` rows of `columns` parameters each, in the placeholders
/// of `conn`'s engine: `$1, $2, …` for PostgreSQL, anonymous `?` for SQLite. (SQLite looks a
/// numbered parameter's name up in a list for every bind, so a statement of 64 rows × 13 columns
/// spent more of the single writer's time naming its parameters than storing its rows.)
pub fn multi_row_sql(conn: &sqlx::AnyConnection, head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let anonymous = conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME;
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=columns)
                .map(|c| if anonymous { "?".to_string() } else { format!("${}", r * columns + c) })
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("{head} VALUES {}{tail}", values.join(", "))
}

/// How long a request waits for the database by default (milliseconds): for a connection of the
/// pool (both engines; a pool exhausted by a burst answers 503 with `Retry-After` after this long,
/// instead of holding the request until the phone gives up), and for another writer of an SQLite
/// file.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;

impl Db {
    /// Opens (creating and migrating if needed) the database at `url`: `sqlite://path` or
    /// `postgres://user@host/db`.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        Db::open_with(url, DEFAULT_BUSY_TIMEOUT_MS).await
    }

    /// Like [`Db::open`], waiting up to `busy_timeout_ms` for another writer of an SQLite file.
    pub async fn open_with(url: &str, busy_timeout_ms: u64) -> anyhow::Result<Db> {
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
        if let Some(path) = sqlite_path(url) {
            create_private(&path)?;
        }
        let write = pool(backend, 1, &write_url, busy_timeout_ms).await.context("opening the database")?;
        let migrator = match backend {
            Backend::Sqlite => sotay_migrations::sqlite(),
            Backend::Postgres => sotay_migrations::postgres(),
        };
        migrator.run(&write).await.context("migrating the database")?;
        if backend == Backend::Sqlite {
            // Statistics for the planner, for tables that changed much since the last time (the
            // limit keeps it short on a large file); PostgreSQL's autovacuum does this itself.
            write.execute("PRAGMA optimize = 0x10002").await.context("optimizing the database")?;
        }
        let read =
            pool(backend, READERS, &read_url, busy_timeout_ms).await.context("opening the database for reading")?;
        Ok(Db { write, read, backend, sqlite_path: sqlite_path(url), write_wait: crate::metrics::histogram() })
    }

    /// Begins a write transaction on the writer connection, holding the database's write lock
    /// from the start (SQLite) so it never fails half-way on a lock upgrade.
    pub async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Any>> {
        let started = std::time::Instant::now();
        let mut tx = self.begin_on_writer().await;
        if matches!(tx, Err(sqlx::Error::InvalidSavePointStatement)) {
            // A transaction that failed half-way (the disk filled up during its COMMIT) can leave
            // the writer connection inside it. That connection is closed; the pool opens a fresh
            // one, and SQLite rolls back what the old one left unfinished.
            tracing::warn!("the writer connection was left inside a failed transaction: reopening it");
            if let Ok(conn) = self.write.acquire().await {
                let _ = conn.close().await;
            }
            tx = self.begin_on_writer().await;
        }
        self.write_wait.observe(started.elapsed().as_secs_f64());
        tx
    }

    async fn begin_on_writer(&self) -> sqlx::Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// Whether the database answers (a reader runs `SELECT 1`).
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await.map(|_| ())
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

async fn pool(backend: Backend, connections: u32, url: &str, busy_timeout_ms: u64) -> sqlx::Result<AnyPool> {
    let busy = format!("PRAGMA busy_timeout = {busy_timeout_ms}");
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_millis(busy_timeout_ms))
        .after_connect(move |conn, _| {
            let busy = busy.clone();
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL: readers beside the writer. FULL: a commit is on disk before a phone
                    // is told it is stored (SPEC §4, no loss).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // Reads through the OS page cache instead of copying every page: a year's
                    // report scans an index of a few MiB per 100,000 records.
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    conn.execute(sqlx::AssertSqlSafe(busy)).await?;
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

/// Whether `e` means "the database is busy or briefly unreachable; the same request can succeed
/// shortly": SQLite's busy and locked codes, PostgreSQL's serialization failures, deadlocks,
/// lock timeouts, shutdowns and connection errors, and the pool's own timeouts.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLite reports the extended result code as a number: its low byte is the primary
            // code, 5 SQLITE_BUSY, 6 SQLITE_LOCKED, 10 SQLITE_IOERR or 13 SQLITE_FULL (the disk
            // failed a write or is full: the transaction is rolled back, nothing was written, and
            // the phone tries again later). PostgreSQL: serialization,
            // deadlock, lock, shutdown and disk-full codes, and every connection error (08…).
            code.parse::<u32>().map(|n| matches!(n & 0xff, 5 | 6 | 10 | 13)).unwrap_or(false)
                || matches!(&*code, "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53100")
                || code.starts_with("08")
        }),
        _ => false,
    }
}

/// Runs `f` under a savepoint of `tx`: released if `f` succeeds, rolled back if it fails, and
/// `f`'s result returned. The outer error means the transaction itself is spoiled and must not be
/// committed: the savepoint could not be begun, released or rolled back.
///
/// Why spoiled, not merely failed: when a savepoint fails to begin on PostgreSQL (its connection
/// cut, say), sqlx 0.9 takes the failure for a rollback of the whole transaction and lowers its
/// depth to zero, after which the transaction's `commit` sends nothing and returns `Ok`. A batch
/// committed after that would acknowledge pushes that were never stored (the PostgreSQL faults
/// test caught it: a whole push acknowledged and lost in about one run in four).
pub async fn in_savepoint<T, E>(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    f: impl for<'a> FnOnce(
        &'a mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'a>>,
) -> Result<Result<T, E>, sqlx::Error> {
    let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
    match f(&mut savepoint).await {
        Ok(value) => {
            savepoint.commit().await?;
            Ok(Ok(value))
        }
        Err(e) => {
            savepoint.rollback().await?;
            Ok(Err(e))
        }
    }
}
