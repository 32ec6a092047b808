//! Writes this version's upgrade fixture (`sotay_tests::fixture`) into `tests/fixtures/`: the
//! SQLite database (`schema-N.sqlite`), a PostgreSQL dump (`schema-N.postgres.sql`, needs
//! `pg_dump` and the PostgreSQL of `SOTAY_TEST_POSTGRES_URL`) and the facts the upgrade test checks
//! (`schema-N.facts.json`). N is the schema version. Run once per released schema version.

use anyhow::Context;
use sotay_tests::fixture::{Facts, populate};
use sotay_tests::{fresh_postgres_database, spawn_app_on};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&out)?;
    let mut facts: BTreeMap<&str, Facts> = BTreeMap::new();

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("sotay.db");
    let mut app = spawn_app_on(&format!("sqlite://{}", db.display())).await;
    let sqlite = populate(&app).await;
    app.stop().await;
    let version = sqlite.schema_version;
    let file = out.join(format!("schema-{version}.sqlite"));
    let _ = std::fs::remove_file(&file);
    // One self-contained file, write-ahead log folded in.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
        sqlx::query("VACUUM INTO ?1").bind(file.display().to_string()).execute(&mut conn).await?;
    }
    facts.insert("sqlite", sqlite);

    let url = fresh_postgres_database().await;
    let mut app = spawn_app_on(&url).await;
    let postgres = populate(&app).await;
    app.stop().await;
    anyhow::ensure!(postgres.schema_version == version, "both engines at the same schema version");
    let dump = std::process::Command::new("pg_dump")
        .args(["--inserts", "--no-owner", "--no-privileges", "--no-comments", &url])
        .output()
        .context("running pg_dump")?;
    anyhow::ensure!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    std::fs::write(out.join(format!("schema-{version}.postgres.sql")), dump.stdout)?;
    facts.insert("postgres", postgres);

    std::fs::write(out.join(format!("schema-{version}.facts.json")), serde_json::to_vec_pretty(&facts)?)?;
    println!("wrote the schema-{version} fixture to {}", out.display());
    Ok(())
}
