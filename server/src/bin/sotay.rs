//! `sotay`: the command-line device and admin tool. It does from a terminal what a phone does,
//! with the same sync-core code, which is how people script, demo and load-test Sổ Tay.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sotay_server::auth::Role;
use sotay_server::client::Client;
use sotay_server::device_file::{self, Credential, FileStore};
use sotay_sync_core::device::{Device, DeviceIdentity};
use sotay_sync_core::schema::{Coded, Lang, RecordKind};
use sotay_sync_core::{CommuneId, Date, Edit, Field, RecordId, RecordView, VillageId};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "sotay", version, about = "Sổ Tay device and admin tool")]
struct Cli {
    /// The device directory (credential and local store).
    #[arg(long, env = "SOTAY_DEVICE_DIR", default_value = ".sotay-device", global = true)]
    dir: PathBuf,
    /// Language of messages: vi or en.
    #[arg(long, env = "SOTAY_LANG", default_value = "vi", global = true)]
    lang: String,
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
    /// List local changes the server refused (kept on this device, never resent).
    Rejected,
    /// Resolve a conflict by choosing one of its values (1-based, as `conflicts` numbers them).
    Resolve {
        /// Record id (prefix).
        id: String,
        /// The field in conflict.
        field: String,
        /// Which value to keep.
        choice: usize,
    },
    /// Sync with the server.
    Sync,
    /// Administration, run on the server machine against its database.
    Admin {
        /// The server's database.
        #[arg(long, env = "SOTAY_DATABASE_URL", default_value = "sqlite://sotay.db")]
        database_url: String,
        /// Lifetime of enrolment codes, in seconds.
        #[arg(long, env = "SOTAY_ENROLMENT_TTL_SECS", default_value_t = 72 * 3600)]
        enrolment_ttl_secs: u64,
        #[command(subcommand)]
        cmd: AdminCmd,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a commune; prints its id.
    CreateCommune {
        /// Name.
        name: String,
    },
    /// Create a village; prints its id.
    CreateVillage {
        /// Commune id.
        #[arg(long)]
        commune: CommuneId,
        /// Name.
        name: String,
    },
    /// Create an organising unit.
    CreateUnit {
        /// Commune id.
        #[arg(long)]
        commune: CommuneId,
        /// Short code stored in records.
        code: String,
        /// Name.
        name: String,
    },
    /// Create a user; prints its id.
    CreateUser {
        /// Commune id.
        #[arg(long)]
        commune: CommuneId,
        /// Village id (collaborators).
        #[arg(long)]
        village: Option<VillageId>,
        /// collaborator, reviewer, gbv_focal_point or admin.
        #[arg(long)]
        role: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Login name.
        username: String,
    },
    /// Issue a one-time enrolment code for a user's phone.
    EnrolCode {
        /// Login name.
        username: String,
    },
    /// List a user's devices.
    Devices {
        /// Login name.
        username: String,
    },
    /// Revoke a lost phone.
    Revoke {
        /// Device id.
        device: sotay_sync_core::DeviceId,
    },
    /// Set a user's password (read from standard input; at least 10 characters).
    SetPassword {
        /// Login name.
        username: String,
    },
    /// Change a user's role.
    SetRole {
        /// Login name.
        username: String,
        /// collaborator, reviewer, gbv_focal_point or admin.
        role: String,
        /// Village id (collaborators).
        #[arg(long)]
        village: Option<VillageId>,
    },
    /// Print the audit log.
    Audit,
    /// Set up a demo commune (Tân Yên) with villages, units and a collaborator, and print two enrolment codes.
    Quickstart,
}

fn now_ms() -> i64 {
    sotay_server::now_ms()
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

struct Local {
    cred: Credential,
    device: Device<FileStore>,
}

fn open_local(dir: &std::path::Path) -> anyhow::Result<Local> {
    let cred = device_file::load_credential(dir)?;
    let store = FileStore::open(dir)?;
    Ok(Local { device: Device::new(cred.identity, store), cred })
}

fn find(device: &Device<FileStore>, prefix: &str) -> anyhow::Result<RecordId> {
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
async fn review(dir: &std::path::Path, id: &str, comment: Option<&str>) -> anyhow::Result<()> {
    let mut local = open_local(dir)?;
    let id = find(&local.device, id)?;
    let client = Client::new(&local.cred.server);
    let token = client.token(local.cred.device(), &local.cred.secret).await?.access_token;
    client.review(&token, id, comment).await?;
    client.sync(&mut local.device, &token).await?;
    println!("{}", if comment.is_none() { "approved" } else { "returned to its author" });
    Ok(())
}

async fn run_admin(database_url: &str, ttl: u64, cmd: AdminCmd) -> anyhow::Result<()> {
    use sotay_server::admin;
    let db = sotay_server::db::Db::open(database_url).await?;
    match cmd {
        AdminCmd::CreateCommune { name } => println!("{}", admin::create_commune(&db, &name).await?),
        AdminCmd::CreateVillage { commune, name } => println!("{}", admin::create_village(&db, commune, &name).await?),
        AdminCmd::CreateUnit { commune, code, name } => admin::create_unit(&db, commune, &code, &name).await?,
        AdminCmd::CreateUser { commune, village, role, name, username } => {
            let role =
                Role::from_code(&role).context("role must be collaborator, reviewer, gbv_focal_point or admin")?;
            let display_name = name.unwrap_or_else(|| username.clone());
            let id = admin::create_user(
                &db,
                admin::NewUser { username: &username, display_name: &display_name, role, commune, village },
            )
            .await?;
            println!("{id}");
        }
        AdminCmd::EnrolCode { username } => {
            let user = admin::user_by_name(&db, &username).await?;
            println!("{}", admin::issue_enrolment_code(&db, user, ttl).await?);
        }
        AdminCmd::Devices { username } => {
            let user = admin::user_by_name(&db, &username).await?;
            for d in admin::list_devices(&db, user).await? {
                let state = if d.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}  {:<8} {}", d.id, state, d.name);
            }
        }
        AdminCmd::Revoke { device } => {
            admin::revoke_device(&db, device).await?;
            println!("revoked {device}");
        }
        AdminCmd::SetPassword { username } => {
            let user = admin::user_by_name(&db, &username).await?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            admin::set_password(&db, user, password.trim_end_matches(['\r', '\n'])).await?;
            println!("password set for {username}");
        }
        AdminCmd::SetRole { username, role, village } => {
            let user = admin::user_by_name(&db, &username).await?;
            let role =
                Role::from_code(&role).context("role must be collaborator, reviewer, gbv_focal_point or admin")?;
            admin::set_role(&db, user, role, village).await?;
            println!("{username} is now {}", role.code());
        }
        AdminCmd::Audit => {
            for e in admin::list_audit(&db).await? {
                println!("{}", serde_json::to_string(&e)?);
            }
        }
        AdminCmd::Quickstart => {
            let commune = admin::create_commune(&db, "Tân Yên").await?;
            let dong = admin::create_village(&db, commune, "Thôn Đông").await?;
            admin::create_village(&db, commune, "Thôn Tây").await?;
            for (code, name) in [
                ("vhxh", "Phòng Văn hóa-xã hội"),
                ("hlhpn", "Hội Liên hiệp phụ nữ"),
                ("mttq", "Ủy ban MTTQ"),
                ("thon", "Thôn"),
            ] {
                admin::create_unit(&db, commune, code, name).await?;
            }
            let user = admin::create_user(
                &db,
                admin::NewUser {
                    username: "lan",
                    display_name: "Nguyễn Thị Lan",
                    role: Role::Collaborator,
                    commune,
                    village: Some(dong),
                },
            )
            .await?;
            println!("commune {commune}\nvillage {dong} (Thôn Đông)\nuser lan (collaborator)");
            println!("enrolment code, phone 1: {}", admin::issue_enrolment_code(&db, user, ttl).await?);
            println!("enrolment code, phone 2: {}", admin::issue_enrolment_code(&db, user, ttl).await?);
        }
    }
    db.close().await;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let lang = Lang::from_code(&cli.lang).unwrap_or_default();
    match cli.cmd {
        Cmd::Admin { database_url, enrolment_ttl_secs, cmd } => run_admin(&database_url, enrolment_ttl_secs, cmd).await,
        Cmd::Enrol { server, name, code } => {
            if cli.dir.join("device.json").exists() {
                bail!("{} already holds an enrolled device", cli.dir.display());
            }
            let client = Client::new(&server);
            let e = client.enrol(&code, &name).await?;
            let village = e.village_id.unwrap_or(VillageId(uuid::Uuid::nil()));
            let cred = Credential {
                server,
                identity: DeviceIdentity { device: e.device_id, user: e.user_id, commune: e.commune_id, village },
                role: e.role,
                secret: e.device_secret,
            };
            device_file::save_credential(&cli.dir, &cred)?;
            println!("enrolled device {} in {}", e.device_id, cli.dir.display());
            Ok(())
        }
        Cmd::Sync => {
            let mut local = open_local(&cli.dir)?;
            let client = Client::new(&local.cred.server);
            let token = match client.token(local.cred.device(), &local.cred.secret).await {
                Err(sotay_server::client::ClientError::Revoked) => {
                    local.device.wipe_sensitive()?;
                    bail!("this device was revoked; its GBV data has been wiped");
                }
                t => t?,
            };
            let synced = client.sync(&mut local.device, &token.access_token).await;
            if local.device.identity() != local.cred.identity {
                // The server gave this phone a new scope: keep it for next time, whatever else happened.
                local.cred.identity = local.device.identity();
                device_file::save_credential(&cli.dir, &local.cred)?;
            }
            match synced {
                Ok(r) => {
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
                    let conflicts: usize = local.device.list()?.iter().map(|v| v.conflicts.len()).sum();
                    if conflicts > 0 {
                        println!("{conflicts} conflict(s) to resolve: run `sotay conflicts`");
                    }
                    Ok(())
                }
                Err(sotay_server::client::ClientError::Revoked) => {
                    local.device.wipe_sensitive()?;
                    bail!("this device was revoked; its GBV data has been wiped");
                }
                Err(e) => Err(e.into()),
            }
        }
        Cmd::Approve { id } => review(&cli.dir, &id, None).await,
        Cmd::Return { id, comment } => review(&cli.dir, &id, Some(&comment)).await,
        cmd => {
            let mut local = open_local(&cli.dir)?;
            let device = &mut local.device;
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
                Cmd::Rejected => {
                    for r in device.rejected()? {
                        println!("{}  {}: {}", &r.entry.record.to_string()[..13], r.code, r.message);
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
                Cmd::Enrol { .. } | Cmd::Sync | Cmd::Admin { .. } | Cmd::Approve { .. } | Cmd::Return { .. } => {
                    unreachable!("handled above")
                }
            }
            Ok(())
        }
    }
}
