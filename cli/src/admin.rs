//! `sotay admin`: administration run on the server machine against its database (communes and
//! their reporting deadline, villages, units, users, enrolment codes, devices, the audit log), over
//! `sotay_server::admin`.

use crate::error::{AdminStep as Step, CliError};
use anyhow::Context;
use clap::Subcommand;
use sotay_server::auth::Role;
use sotay_sync_core::{Coded, CommuneId, VillageId};

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Create a commune; prints its id.
    CreateCommune {
        /// Name.
        name: String,
    },
    /// Set a commune's reporting deadline: the day of the year completeness judges lateness
    /// against, in the year each period ends (audited).
    SetDeadline {
        /// Commune id.
        #[arg(long)]
        commune: CommuneId,
        /// The day as MM-DD, for example 11-25 for 25 November (29 February is refused).
        deadline: String,
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
    /// Write a consistent copy of the live SQLite database to FILE (phones may go on syncing).
    Backup {
        /// The new file.
        file: std::path::PathBuf,
    },
    /// Put a backup back as the SQLite database (the server must be stopped); phones then send
    /// again what the backup lacks.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// Replace the token signing key (then restart every server: tokens signed before are refused;
    /// phones fetch new ones by themselves, people sign in again).
    RotateSigningKey,
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

/// The admin step as the context of an error: what the person hears about first.
trait StepContext<T> {
    fn step(self, step: Step) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> StepContext<T> for Result<T, E> {
    fn step(self, step: Step) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(CliError::Admin(step)))
    }
}

/// Runs one admin command. Every failure of `sotay_server::admin` reaches the person as the step
/// that failed ([`AdminStep`], in their language) and its innermost cause.
pub async fn run_admin(database_url: &str, ttl: u64, cmd: AdminCmd) -> anyhow::Result<()> {
    use sotay_server::admin;
    if let AdminCmd::Restore { file } = &cmd {
        // Before opening the database: the file is about to be replaced.
        admin::restore(database_url, file).await.step(Step::Restore(file.clone()))?;
        println!("restored {}: start the server; phones will send again what the backup lacks", file.display());
        return Ok(());
    }
    // What was typed is checked before the database is opened (or created).
    let role = match &cmd {
        AdminCmd::CreateUser { role, village, .. } | AdminCmd::SetRole { role, village, .. } => {
            let role = Role::from_code(role).ok_or_else(|| CliError::UnknownRole(role.clone()))?;
            if role == Role::Collaborator && village.is_none() {
                return Err(CliError::VillageNeeded.into());
            }
            Some(role)
        }
        _ => None,
    };
    if let AdminCmd::Backup { file } = &cmd
        && file.exists()
    {
        return Err(CliError::FileExists(file.clone()).into());
    }
    let deadline = match &cmd {
        AdminCmd::SetDeadline { deadline, .. } => {
            // The step's own sentence says what a deadline looks like, in the person's language.
            Some(
                deadline
                    .parse::<admin::Deadline>()
                    .map_err(|_| CliError::Admin(Step::SetDeadline(deadline.clone())))?,
            )
        }
        _ => None,
    };
    let db = sotay_server::db::Db::open(database_url).await.step(Step::OpenDatabase)?;
    let find = async |username: &str| admin::user_by_name(&db, username).await.step(Step::FindUser(username.into()));
    match cmd {
        AdminCmd::CreateCommune { name } => {
            println!("{}", admin::create_commune(&db, &name).await.step(Step::CreateCommune)?)
        }
        AdminCmd::SetDeadline { commune, .. } => {
            let deadline = deadline.expect("checked above");
            let old = admin::set_report_deadline(&db, commune, deadline, None)
                .await
                .step(Step::SetDeadline(deadline.to_string()))?;
            println!("reporting deadline of {commune}: {deadline} (MM-DD; it was {old})");
        }
        AdminCmd::CreateVillage { commune, name } => {
            println!("{}", admin::create_village(&db, commune, &name).await.step(Step::CreateVillage)?)
        }
        AdminCmd::CreateUnit { commune, code, name } => {
            admin::create_unit(&db, commune, &code, &name).await.step(Step::CreateUnit)?
        }
        AdminCmd::CreateUser { commune, village, name, username, .. } => {
            let role = role.expect("checked above");
            let display_name = name.unwrap_or_else(|| username.clone());
            let id = admin::create_user(
                &db,
                admin::NewUser { username: &username, display_name: &display_name, role, commune, village },
            )
            .await
            .step(Step::CreateUser(username.clone()))?;
            println!("{id}");
        }
        AdminCmd::EnrolCode { username } => {
            let user = find(&username).await?;
            println!("{}", admin::issue_enrolment_code(&db, user, ttl).await.step(Step::IssueCode)?);
        }
        AdminCmd::Devices { username } => {
            let user = find(&username).await?;
            for d in admin::list_devices(&db, user).await.step(Step::ListDevices)? {
                let state = if d.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}  {:<8} {}", d.id, state, d.name);
            }
        }
        AdminCmd::Backup { file } => {
            admin::backup(&db, &file).await.step(Step::Backup(file.clone()))?;
            println!("backup written to {}", file.display());
        }
        AdminCmd::Restore { .. } => unreachable!("restore runs before the database is opened"),
        AdminCmd::RotateSigningKey => {
            admin::rotate_signing_key(&db).await.step(Step::RotateKey)?;
            println!("signing key replaced: restart every sotay-server on this database");
        }
        AdminCmd::Revoke { device } => {
            admin::revoke_device(&db, device).await.step(Step::Revoke(device))?;
            println!("revoked {device}");
        }
        AdminCmd::SetPassword { username } => {
            let user = find(&username).await?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context(CliError::ReadStdin)?;
            admin::set_password(&db, user, password.trim_end_matches(['\r', '\n']))
                .await
                .step(Step::SetPassword(username.clone()))?;
            println!("password set for {username}");
        }
        AdminCmd::SetRole { username, village, .. } => {
            let user = find(&username).await?;
            let role = role.expect("checked above");
            admin::set_role(&db, user, role, village).await.step(Step::SetRole(username.clone()))?;
            println!("{username} is now {}", role.code());
        }
        AdminCmd::Audit => {
            for e in admin::list_audit(&db).await.step(Step::Audit)? {
                println!("{}", serde_json::to_string(&e)?);
            }
        }
        AdminCmd::Quickstart => quickstart(&db, ttl).await.step(Step::Quickstart)?,
    }
    db.close().await;
    Ok(())
}

/// A demo commune (Tân Yên) with villages, units and a collaborator, and two enrolment codes.
async fn quickstart(db: &sotay_server::db::Db, ttl: u64) -> anyhow::Result<()> {
    use sotay_server::admin;
    let commune = admin::create_commune(db, "Tân Yên").await?;
    let dong = admin::create_village(db, commune, "Thôn Đông").await?;
    admin::create_village(db, commune, "Thôn Tây").await?;
    for (code, name) in
        [("vhxh", "Phòng Văn hóa-xã hội"), ("hlhpn", "Hội Liên hiệp phụ nữ"), ("mttq", "Ủy ban MTTQ"), ("thon", "Thôn")]
    {
        admin::create_unit(db, commune, code, name).await?;
    }
    let user = admin::create_user(
        db,
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
    println!("enrolment code, phone 1: {}", admin::issue_enrolment_code(db, user, ttl).await?);
    println!("enrolment code, phone 2: {}", admin::issue_enrolment_code(db, user, ttl).await?);
    Ok(())
}
