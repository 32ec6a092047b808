//! The one source of truth for the Sổ Tay database schema: the sqlx migrations, embedded in the
//! binary so a server creates and migrates its own database on start.
//!
//! Migrations live as plain SQL files under `migrations/sqlite/`, numbered; a migration once
//! released is never edited, only followed by a new one.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// The SQLite migrations, in order: (version, description, SQL).
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../sqlite/0001_initial.sql")),
    (2, "access", include_str!("../sqlite/0002_access.sql")),
];

/// The migrator for the embedded SQLite store.
pub fn sqlite() -> Migrator {
    Migrator::with_migrations(
        SQLITE
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_increasing() {
        let versions: Vec<i64> = super::SQLITE.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(super::sqlite().iter().count(), super::SQLITE.len());
    }
}
