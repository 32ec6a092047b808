//! `sotay`: the command-line device and admin tool. It does from a terminal what a phone does,
//! with the phone's own library (`sotay-client`: the same session, sync loop and SQLite store),
//! which is how people script, demo and load-test Sổ Tay.

mod admin;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sotay_client::session::now_ms;
use sotay_client::store::PhoneKey;
use sotay_client::{ClientConfig, ClientError, Session, SqliteStore, SyncOptions, SyncStatus};
use sotay_sync_core::device::Device;
use sotay_sync_core::schema::{Coded, Lang, RecordKind};
use sotay_sync_core::{Date, Edit, Field, RecordId, RecordView};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "sotay", version, about = "Sổ Tay device and admin tool")]
struct Cli {
    /// The device directory (credential and local store).
    #[arg(long, env = "SOTAY_DEVICE_DIR", default_value = ".sotay-device", global = true)]
    dir: PathBuf,
    /// Language of messages: vi or en.
    #[arg(long, env = "SOTAY_LANG", default_value = "vi", global = true)]
    lang: String,
    /// Allow a plain-HTTP server address that is not this machine (a LAN server without TLS).
    #[arg(long, env = "SOTAY_ALLOW_HTTP", global = true)]
    allow_http: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Enrol this device with a one-time code from the commune office.
    Enrol {
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A name for this device.
        #[arg(long, default_value = "sotay-cli")]
        name: String,
        /// The enrolment code.
        code: String,
    },
    /// Create a record (activity by default) with field=value pairs.
    Add {
        /// activity or gbv_referral.
        #[arg(long, default_value = "activity")]
        kind: String,
        /// field=value (repeatable); sets take +code / -code.
        #[arg(long = "set", short = 's')]
        set: Vec<String>,
    },
    /// Edit a record.
    Edit {
        /// Record id (a unique prefix is enough).
        id: String,
        /// field=value (repeatable).
        #[arg(long = "set", short = 's', required = true)]
        set: Vec<String>,
    },
    /// Submit a record for review.
    Submit {
        /// Record id (prefix).
        id: String,
    },
    /// Approve a submitted record (reviewers).
    Approve {
        /// Record id (prefix).
        id: String,
    },
    /// Return a submitted record to its author with a comment (reviewers).
    Return {
        /// Record id (prefix).
        id: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// Soft-delete a record.
    Delete {
        /// Record id (prefix).
        id: String,
    },
    /// List local records.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one record.
    Show {
        /// Record id (prefix).
        id: String,
    },
    /// List open conflicts.
    Conflicts,
    /// List local changes the server refused (kept on this device, never resent as they were),
    /// or deal with one by the number the list shows.
    Rejected {
        /// Forget this refused change.
        #[arg(long, value_name = "N", conflicts_with = "resubmit")]
        discard: Option<u64>,
        /// Send what this refused change meant again, as a new edit.
        #[arg(long, value_name = "N")]
        resubmit: Option<u64>,
    },
    /// Resolve a conflict by choosing one of its values (1-based, as `conflicts` numbers them).
    Resolve {
        /// Record id (prefix).
        id: String,
        /// The field in conflict.
        field: String,
        /// Which value to keep.
        choice: usize,
    },
    /// Sync with the server (network faults are retried by themselves).
    Sync {
        /// Print progress after every round trip.
        #[arg(long)]
        progress: bool,
    },
    /// Show this device's state: unsent changes, last sync, records by review state.
    Status,
    /// Administration, run on the server machine against its database.
    Admin {
        /// The server's database.
        #[arg(long, env = "SOTAY_DATABASE_URL", default_value = "sqlite://sotay.db")]
        database_url: String,
        /// Lifetime of enrolment codes, in seconds.
        #[arg(long, env = "SOTAY_ENROLMENT_TTL_SECS", default_value_t = 72 * 3600)]
        enrolment_ttl_secs: u64,
        #[command(subcommand)]
        cmd: admin::AdminCmd,
    },
}

fn today() -> Date {
    Date::from_unix_ms(now_ms())
}

fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<Edit>> {
    sets.iter()
        .map(|s| {
            let (f, v) = s.split_once('=').with_context(|| format!("expected field=value, got {s:?}"))?;
            Ok(Edit::parse(f.trim(), v)?)
        })
        .collect()
}

/// The device directory's store file.
fn store_path(dir: &Path) -> PathBuf {
    dir.join("device.db")
}

fn open_store(dir: &Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = phone_key(dir)?;
    Ok(SqliteStore::open(&store_path(dir), Some(&key))?)
}

/// The device's key for its GBV referrals at rest: `phone.key` beside the store, 32 random bytes
/// made on first use, readable by this user only (0600). On a phone the platform's key store
/// plays this part.
fn phone_key(dir: &Path) -> anyhow::Result<PhoneKey> {
    let path = dir.join("phone.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            PhoneKey::from_slice(&bytes).with_context(|| format!("{} is not a key of 32 bytes", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = PhoneKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&key.to_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn open_session(dir: &Path, config: ClientConfig) -> anyhow::Result<Session> {
    if !store_path(dir).exists() {
        return Err(ClientError::NotEnrolled.into());
    }
    Ok(Session::open(open_store(dir)?, config)?)
}

fn find(device: &Device<SqliteStore>, prefix: &str) -> anyhow::Result<RecordId> {
    let matches: Vec<RecordId> =
        device.list()?.into_iter().map(|v| v.id).filter(|id| id.to_string().starts_with(prefix)).collect();
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => bail!("no local record starts with {prefix:?}"),
        _ => bail!("{prefix:?} matches {} records; give more of the id", matches.len()),
    }
}

fn summary(v: &RecordView, lang: Lang) -> String {
    let what = match v.kind {
        RecordKind::Activity => format!(
            "{} {} {}: {}♀ {}♂",
            v.held_on.map(|d| d.to_string()).unwrap_or_else(|| "----------".into()),
            v.activity_type.map(|t| t.label(lang)).unwrap_or("?"),
            v.location.as_deref().unwrap_or(""),
            v.attendance_female.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            v.attendance_male.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
        ),
        RecordKind::GbvReferral => format!(
            "{} {} [{}]",
            v.reported_on.map(|d| d.to_string()).unwrap_or_else(|| "----------".into()),
            v.case_code.as_deref().unwrap_or("?"),
            v.case_status.map(|s| s.label(lang)).unwrap_or("?"),
        ),
    };
    let mut flags = vec![v.review_state.label(lang).to_string()];
    if !v.conflicts.is_empty() {
        flags.push(format!("{} conflict(s)", v.conflicts.len()));
    }
    if v.deleted {
        flags.push("deleted".into());
    }
    if v.changed_after_approval {
        flags.push("changed after approval".into());
    }
    format!("{}  {}  ({})", &v.id.to_string()[..13], what, flags.join(", "))
}

/// A device-clock time as `YYYY-MM-DD HH:MM UTC` (advisory: phones' clocks can be wrong).
fn device_time(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{} {:02}:{:02} UTC", Date::from_unix_ms(ms), minutes / 60, minutes % 60)
}

fn print_conflicts(v: &RecordView, lang: Lang) {
    for c in &v.conflicts {
        println!("{}  {} ({}):", &v.id.to_string()[..13], c.field.label(lang), c.field.code());
        for (i, value) in c.values.iter().enumerate() {
            let who = value.by.device.map(|d| d.to_string()[..8].to_string()).unwrap_or_else(|| "?".into());
            println!(
                "    {}. {:<20} device {} at {}{}",
                i + 1,
                value.value,
                who,
                device_time(value.by.at_ms),
                if value.shown { "  ← shown" } else { "" }
            );
        }
    }
}

/// A review action: the server's to make, through the API (`sotay_sync_core::rules`); then a
/// sync brings it to this phone.
async fn review(dir: &Path, config: ClientConfig, id: &str, comment: Option<&str>) -> anyhow::Result<()> {
    let mut session = open_session(dir, config)?;
    let id = find(session.device(), id)?;
    let options = SyncOptions::default();
    let token = session.token(&options).await?;
    session.client().review(&token, id, comment).await?;
    session.sync(&options).await?;
    println!("{}", if comment.is_none() { "approved" } else { "returned to its author" });
    Ok(())
}

async fn sync(dir: &Path, config: ClientConfig, progress: bool) -> anyhow::Result<()> {
    let mut session = open_session(dir, config)?;
    let mut options = SyncOptions::default();
    if progress {
        options.progress = Some(Arc::new(|s: &SyncStatus| match s.retrying_in {
            Some(wait) => eprintln!("  … retrying in {:.1} s ({} retries so far)", wait.as_secs_f64(), s.retries),
            None => eprintln!(
                "  {} sent, {} pending, {} records received, {} B up, {} B down",
                s.changes_sent, s.changes_pending, s.records_received, s.bytes_sent, s.bytes_received
            ),
        }));
    }
    let r = session.sync(&options).await?;
    if r.reset {
        println!("this account now belongs to another village or role: the phone started over there");
    }
    println!(
        "synced: {} sent, {} records received, {} round trip(s), {} B up, {} B down",
        r.acked, r.records_received, r.round_trips, r.wire.request_bytes, r.wire.response_bytes
    );
    if r.rejected > 0 {
        println!("{} change(s) refused by the server: run `sotay rejected`", r.rejected);
    }
    let conflicts: usize = session.device().list()?.iter().map(|v| v.conflicts.len()).sum();
    if conflicts > 0 {
        println!("{conflicts} conflict(s) to resolve: run `sotay conflicts`");
    }
    Ok(())
}

async fn enrol(dir: &Path, config: ClientConfig, server: &str, name: &str, code: &str) -> anyhow::Result<()> {
    let session = Session::enrol(open_store(dir)?, server, code, name, config, &SyncOptions::default()).await?;
    println!("enrolled device {} in {}", session.device_id(), dir.display());
    Ok(())
}

fn status(dir: &Path, config: ClientConfig) -> anyhow::Result<()> {
    let session = open_session(dir, config)?;
    let counts = session.device().store().counts()?;
    println!("device {}", session.device_id());
    println!("server {}", session.credential().server);
    match session.last_sync_ms()? {
        Some(ms) => println!("last sync {}", device_time(ms)),
        None => println!("never synced"),
    }
    if session.is_revoked()? {
        println!("revoked by the commune office");
    }
    println!(
        "{} records ({} activities, {} GBV referrals): {} drafts, {} submitted, {} returned, {} approved; {} with conflicts",
        counts.records,
        counts.activities,
        counts.gbv_referrals,
        counts.drafts,
        counts.submitted,
        counts.returned,
        counts.approved,
        counts.conflicted
    );
    println!("{} change(s) not sent yet, {} refused", counts.unsent_changes, counts.refused_changes);
    Ok(())
}

/// The error as one sentence in the person's language (never a backtrace or a library chain).
fn render(e: &anyhow::Error, lang: Lang) -> String {
    use sotay_client::store::StoreError;
    match (e.downcast_ref::<ClientError>(), e.downcast_ref::<StoreError>()) {
        (Some(c), _) => c.message(lang),
        (None, Some(StoreError::Locked(lock))) => ClientError::Locked(lock.to_string()).message(lang),
        (None, Some(s)) => ClientError::Storage(s.to_string()).message(lang),
        // One line: what was being done, and why it failed (the innermost cause), never the
        // chain in between or a backtrace.
        (None, None) => {
            let (what, why) = (e.to_string(), e.root_cause().to_string());
            if what == why { what } else { format!("{what}: {why}") }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = Lang::from_code(&cli.lang).unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, lang)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", render(&e, lang));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, lang: Lang) -> anyhow::Result<()> {
    let config = ClientConfig { allow_plain_http: cli.allow_http, lang, ..ClientConfig::default() };
    match cli.cmd {
        Cmd::Admin { database_url, enrolment_ttl_secs, cmd } => {
            admin::run_admin(&database_url, enrolment_ttl_secs, cmd).await
        }
        Cmd::Enrol { server, name, code } => enrol(&cli.dir, config, &server, &name, &code).await,
        Cmd::Sync { progress } => sync(&cli.dir, config, progress).await,
        Cmd::Status => status(&cli.dir, config),
        Cmd::Approve { id } => review(&cli.dir, config, &id, None).await,
        Cmd::Return { id, comment } => review(&cli.dir, config, &id, Some(&comment)).await,
        cmd => {
            let mut session = open_session(&cli.dir, config)?;
            let device = session.device_mut();
            match cmd {
                Cmd::Add { kind, set } => {
                    let kind = RecordKind::from_code(&kind).context("kind must be activity or gbv_referral")?;
                    let id = device.create(kind, &parse_sets(&set)?, now_ms())?;
                    println!("{id}");
                }
                Cmd::Edit { id, set } => {
                    let id = find(device, &id)?;
                    if !device.edit(id, &parse_sets(&set)?, now_ms())? {
                        println!("nothing changed");
                    }
                }
                Cmd::Submit { id } => {
                    let id = find(device, &id)?;
                    match device.submit(id, today(), now_ms()) {
                        Err(sotay_sync_core::device::DeviceError::Record(sotay_sync_core::RecordError::Invalid(
                            errs,
                        ))) => {
                            for e in errs {
                                eprintln!("  {}", e.message(lang));
                            }
                            bail!("the record is not valid; fix it and submit again");
                        }
                        r => r?,
                    }
                }
                Cmd::Delete { id } => {
                    let id = find(device, &id)?;
                    device.delete(id, now_ms())?;
                }
                Cmd::List { json } => {
                    for v in device.list()? {
                        if json {
                            println!("{}", serde_json::to_string(&v)?);
                        } else {
                            println!("{}", summary(&v, lang));
                        }
                    }
                }
                Cmd::Show { id } => {
                    let id = find(device, &id)?;
                    println!("{}", serde_json::to_string_pretty(&device.view(id)?)?);
                }
                Cmd::Conflicts => {
                    for v in device.list()? {
                        print_conflicts(&v, lang);
                    }
                }
                Cmd::Rejected { discard: Some(seq), .. } => {
                    if !device.discard_rejected(seq)? {
                        bail!("no refused change {seq} on this device: run `sotay rejected` to list them");
                    }
                }
                Cmd::Rejected { resubmit: Some(seq), .. } => {
                    let id = device.resubmit(seq, now_ms())?;
                    println!("{id}");
                }
                Cmd::Rejected { .. } => {
                    for r in device.rejected()? {
                        println!(
                            "{:>5}  {}  {}: {}",
                            r.entry.seq,
                            &r.entry.record.to_string()[..13],
                            r.code,
                            r.message
                        );
                    }
                }
                Cmd::Resolve { id, field, choice } => {
                    let id = find(device, &id)?;
                    let field = Field::from_code(&field).context("unknown field")?;
                    if choice == 0 {
                        bail!("choices are numbered from 1");
                    }
                    device.resolve(id, field, choice - 1, now_ms())?;
                }
                Cmd::Enrol { .. }
                | Cmd::Sync { .. }
                | Cmd::Status
                | Cmd::Admin { .. }
                | Cmd::Approve { .. }
                | Cmd::Return { .. } => {
                    unreachable!("handled above")
                }
            }
            Ok(())
        }
    }
}
