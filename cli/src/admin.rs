//! `sotay admin`: administration run on the server machine against its database (communes,
//! villages, units, users, enrolment codes, devices, the audit log), over `sotay_server::admin`.

use anyhow::{Context, bail};
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

/// Runs one admin command.
pub async fn run_admin(database_url: &str, ttl: u64, cmd: AdminCmd) -> anyhow::Result<()> {
    use sotay_server::admin;
    if let AdminCmd::Restore { file } = &cmd {
        // Before opening the database: the file is about to be replaced.
        admin::restore(database_url, file).await?;
        println!("restored {}: start the server; phones will send again what the backup lacks", file.display());
        return Ok(());
    }
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
        AdminCmd::Backup { file } => {
            admin::backup(&db, &file).await?;
            println!("backup written to {}", file.display());
        }
        AdminCmd::Restore { .. } => bail!("restore runs before the database is opened"),
        AdminCmd::RotateSigningKey => {
            sotay_server::admin::rotate_signing_key(&db).await?;
            println!("signing key replaced: restart every sotay-server on this database");
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
