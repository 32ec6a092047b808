//! `sotay`: the command-line device and admin tool. It does from a terminal what a phone does,
//! with the phone's own library (`sotay-client`: the same session, sync loop and SQLite store),
//! which is how people script, demo and load-test Sổ Tay.

mod admin;
mod error;

use anyhow::Context;
use clap::{Parser, Subcommand};
use error::CliError;
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
    /// On failure, print the whole chain of causes (and the backtrace when RUST_BACKTRACE is
    /// set) after the one-line message.
    #[arg(long, global = true)]
    debug: bool,
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

/// The `--set field=value` arguments as edits (checked before the device is opened).
fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<Edit>> {
    sets.iter()
        .map(|s| {
            let (f, v) = s.split_once('=').ok_or_else(|| CliError::ExpectedFieldValue(s.clone()))?;
            Edit::parse(f.trim(), v).map_err(|e| {
                let why = match Field::from_code(&e.field) {
                    None => CliError::UnknownField(e.field.clone()),
                    Some(field) => CliError::BadValue {
                        field,
                        value: v.to_string(),
                        // The codes the field takes, as the parser lists them.
                        codes: e.reason.split_once("expected one of ").map(|(_, codes)| codes.to_string()),
                    },
                };
                anyhow::Error::new(e).context(why)
            })
        })
        .collect()
}

fn parse_kind(kind: &str) -> Result<RecordKind, CliError> {
    RecordKind::from_code(kind).ok_or_else(|| CliError::UnknownKind(kind.to_string()))
}

/// The device directory's store file.
fn store_path(dir: &Path) -> PathBuf {
    dir.join("device.db")
}

fn open_store(dir: &Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(dir).with_context(|| CliError::CreateDir(dir.to_path_buf()))?;
    let key = phone_key(dir)?;
    Ok(SqliteStore::open(&store_path(dir), Some(&key))?)
}

/// The device's key for its GBV referrals at rest: `phone.key` beside the store, 32 random bytes
/// made on first use, readable by this user only (0600). On a phone the platform's key store
/// plays this part.
fn phone_key(dir: &Path) -> anyhow::Result<PhoneKey> {
    let path = dir.join("phone.key");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(PhoneKey::from_slice(&bytes).ok_or(CliError::BadKey(path))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = PhoneKey::generate();
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut file| {
                    file.write_all(&key.to_bytes())?;
                    file.sync_all()
                })
                .with_context(|| CliError::WriteFile(path.clone()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| CliError::ReadFile(path)),
    }
}

fn open_session(dir: &Path, config: ClientConfig) -> anyhow::Result<Session> {
    if !store_path(dir).exists() {
        return Err(CliError::NotEnrolled.into());
    }
    Ok(Session::open(open_store(dir)?, config)?)
}

fn find(device: &Device<SqliteStore>, prefix: &str) -> anyhow::Result<RecordId> {
    let matches: Vec<RecordId> =
        device.list()?.into_iter().map(|v| v.id).filter(|id| id.to_string().starts_with(prefix)).collect();
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => Err(CliError::NoSuchRecord(prefix.to_string()).into()),
        _ => Err(CliError::AmbiguousRecord { prefix: prefix.to_string(), matches: matches.len() }.into()),
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
    let enrolled = Session::enrol(open_store(dir)?, server, code, name, config, &SyncOptions::default()).await;
    let session = enrolled.map_err(|e| match e {
        // Said for an enrolment: no data is waiting, and the same command goes on where it stopped.
        ClientError::Unreachable(_) | ClientError::Interrupted(_) => {
            anyhow::Error::new(e).context(CliError::EnrolUnreachable(server.to_string()))
        }
        e => e.into(),
    })?;
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

/// `--lang` and `--debug` as typed, for when clap refuses the command line before parsing it.
fn lang_and_debug(args: &[std::ffi::OsString]) -> (Lang, bool) {
    let args: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).take_while(|a| *a != "--").collect();
    let code = args
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, a)| match a.strip_prefix("--lang") {
            Some("") => args.get(i + 1).map(|v| v.to_string()),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        })
        .or_else(|| std::env::var("SOTAY_LANG").ok());
    (code.as_deref().and_then(Lang::from_code).unwrap_or_default(), args.contains(&"--debug"))
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let (lang, debug) = lang_and_debug(&args);
            if debug
                || matches!(
                    e.kind(),
                    ErrorKind::DisplayHelp
                        | ErrorKind::DisplayVersion
                        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                )
            {
                e.exit();
            }
            eprintln!("{}", error::usage_message(&e, lang));
            return ExitCode::from(2);
        }
    };
    let lang = Lang::from_code(&cli.lang).unwrap_or_default();
    let debug = cli.debug;
    if !debug {
        // A bug, said in one line like any other failure; `--debug` keeps Rust's own report.
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let what = payload.downcast_ref::<&str>().copied().or(payload.downcast_ref::<String>().map(String::as_str));
            eprintln!("{}", error::panic_message(what.unwrap_or_default(), lang));
        }));
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli, lang)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line in the person's language; the chain of causes (and the backtrace, when
            // RUST_BACKTRACE asks for one) only with --debug.
            eprintln!("{}", error::render(&e, lang));
            if debug {
                eprintln!("{e:?}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, lang: Lang) -> anyhow::Result<()> {
    let config = ClientConfig { allow_plain_http: cli.allow_http, lang, ..ClientConfig::default() };
    let dir = cli.dir.as_path();
    match cli.cmd {
        Cmd::Admin { database_url, enrolment_ttl_secs, cmd } => {
            admin::run_admin(&database_url, enrolment_ttl_secs, cmd).await
        }
        Cmd::Enrol { server, name, code } => enrol(dir, config, &server, &name, &code).await,
        Cmd::Sync { progress } => sync(dir, config, progress).await,
        Cmd::Status => status(dir, config),
        Cmd::Approve { id } => review(dir, config, &id, None).await,
        Cmd::Return { id, comment } => review(dir, config, &id, Some(&comment)).await,
        cmd => local(dir, config, lang, cmd),
    }
}

/// A command on the device's own store, with no server. What was typed is checked before the
/// device is opened, so that a typing mistake is what the person hears about first.
fn local(dir: &Path, config: ClientConfig, lang: Lang, cmd: Cmd) -> anyhow::Result<()> {
    let edits = match &cmd {
        Cmd::Add { set, .. } | Cmd::Edit { set, .. } => parse_sets(set)?,
        _ => Vec::new(),
    };
    let resolve = match &cmd {
        Cmd::Resolve { field, choice, .. } => {
            let field = Field::from_code(field).ok_or_else(|| CliError::UnknownField(field.clone()))?;
            Some((field, choice.checked_sub(1).ok_or(CliError::ChoiceFromOne)?))
        }
        _ => None,
    };
    let kind = match &cmd {
        Cmd::Add { kind, .. } => parse_kind(kind)?,
        _ => RecordKind::Activity,
    };
    let mut session = open_session(dir, config)?;
    let device = session.device_mut();
    match cmd {
        Cmd::Add { .. } => {
            let id = device.create(kind, &edits, now_ms())?;
            println!("{id}");
        }
        Cmd::Edit { id, .. } => {
            let id = find(device, &id)?;
            if !device.edit(id, &edits, now_ms())? {
                println!("nothing changed");
            }
        }
        Cmd::Submit { id } => {
            let id = find(device, &id)?;
            device.submit(id, today(), now_ms())?;
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
                return Err(CliError::NoSuchRefusal(seq).into());
            }
        }
        Cmd::Rejected { resubmit: Some(seq), .. } => {
            let id = device.resubmit(seq, now_ms())?;
            println!("{id}");
        }
        Cmd::Rejected { .. } => {
            for r in device.rejected()? {
                println!("{:>5}  {}  {}: {}", r.entry.seq, &r.entry.record.to_string()[..13], r.code, r.message);
            }
        }
        Cmd::Resolve { id, .. } => {
            let id = find(device, &id)?;
            let (field, choice) = resolve.expect("checked above");
            device.resolve(id, field, choice, now_ms())?;
        }
        Cmd::Enrol { .. }
        | Cmd::Sync { .. }
        | Cmd::Status
        | Cmd::Admin { .. }
        | Cmd::Approve { .. }
        | Cmd::Return { .. } => {
            unreachable!("handled by run")
        }
    }
    Ok(())
}
