//! The one source of truth for the Sổ Tay database schema: the sqlx migrations, embedded in the
//! binary so a server creates and migrates its own database on start.
//!
//! Migrations live as plain SQL files under `migrations/sqlite/` and `migrations/postgres/`,
//! numbered alike (the same schema in each engine's dialect); a migration once released is never
//! edited, only followed by a new one.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// The SQLite migrations, in order: (version, description, SQL).
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../sqlite/0001_initial.sql")),
    (2, "access", include_str!("../sqlite/0002_access.sql")),
    (3, "device scope", include_str!("../sqlite/0003_device_scope.sql")),
    (4, "pending bounds", include_str!("../sqlite/0004_pending_bounds.sql")),
    (5, "throttle", include_str!("../sqlite/0005_throttle.sql")),
    (6, "reports and duplicates", include_str!("../sqlite/0006_report_projection.sql")),
    (7, "history purge", include_str!("../sqlite/0007_history_purge.sql")),
    (8, "log epoch", include_str!("../sqlite/0008_log_epoch.sql")),
    (9, "web sessions", include_str!("../sqlite/0009_web_sessions.sql")),
    (10, "log per commune", include_str!("../sqlite/0010_log_per_commune.sql")),
    (11, "partition by commune", include_str!("../sqlite/0011_partition_by_commune.sql")),
    (12, "case closed at", include_str!("../sqlite/0012_case_closed_at.sql")),
    (13, "closed cases index", include_str!("../sqlite/0013_closed_cases_index.sql")),
];

/// The PostgreSQL migrations: the same versions, in PostgreSQL's dialect.
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../postgres/0001_initial.sql")),
    (2, "access", include_str!("../postgres/0002_access.sql")),
    (3, "device scope", include_str!("../postgres/0003_device_scope.sql")),
    (4, "pending bounds", include_str!("../postgres/0004_pending_bounds.sql")),
    (5, "throttle", include_str!("../postgres/0005_throttle.sql")),
    (6, "reports and duplicates", include_str!("../postgres/0006_report_projection.sql")),
    (7, "history purge", include_str!("../postgres/0007_history_purge.sql")),
    (8, "log epoch", include_str!("../postgres/0008_log_epoch.sql")),
    (9, "web sessions", include_str!("../postgres/0009_web_sessions.sql")),
    (10, "log per commune", include_str!("../postgres/0010_log_per_commune.sql")),
    (11, "partition by commune", include_str!("../postgres/0011_partition_by_commune.sql")),
    (12, "case closed at", include_str!("../postgres/0012_case_closed_at.sql")),
    (13, "closed cases index", include_str!("../postgres/0013_closed_cases_index.sql")),
];

/// The migrator for the embedded SQLite store.
pub fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// The migrator for PostgreSQL.
pub fn postgres() -> Migrator {
    migrator(POSTGRES)
}

fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
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
    fn versions_are_increasing_and_the_same_for_both_engines() {
        let versions: Vec<i64> = super::SQLITE.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(super::sqlite().iter().count(), super::SQLITE.len());
        let pg: Vec<i64> = super::POSTGRES.iter().map(|m| m.0).collect();
        assert_eq!(versions, pg, "every migration exists for both engines");
    }
}
