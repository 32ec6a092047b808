//! `sotay-server --demo`: seeds an empty database with a demo commune, so a newcomer sees
//! something real at once: villages, units, users, a year of realistic records made on simulated
//! phones, some submitted, approved or returned, some edited concurrently into conflicts, some entered
//! twice, most villages on time for the reporting deadline and two late.
//!
//! Records go through the real ingest, exactly as phones' pushes do. A database that already holds
//! a commune is never touched.

use crate::admin::{self, DeviceKind, NewUser};
use crate::auth::{AuthDevice, Role};
use crate::state::AppState;
use crate::sync::{Channel, ingest};
use sotay_sync_core::device::{Device, DeviceIdentity, DeviceStore, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::wire::{ChangeBytes, RecordChanges};
use sotay_sync_core::{Date, Edit, Editor, Record, RecordId, sample};
use sqlx::Row;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "sotay-demo-2026";

const VILLAGES: [&str; 6] = ["Thôn Đông", "Thôn Tây", "Thôn Trung", "Thôn Nam", "Thôn Bắc", "Thôn Hạ"];
const UNITS: [(&str, &str); 7] = [
    ("vhxh", "Phòng Văn hóa-xã hội"),
    ("kinhte", "Phòng Kinh tế"),
    ("taichinh", "Phòng Tài chính"),
    ("vanphong", "Văn phòng HĐND&UBND"),
    ("hlhpn", "Hội Liên hiệp phụ nữ"),
    ("mttq", "Ủy ban MTTQ"),
    ("thon", "Thôn"),
];

/// How much to seed.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    /// Villages (at most 6).
    pub villages: usize,
    /// Activities per village.
    pub activities_per_village: u32,
}

impl Default for DemoSize {
    fn default() -> Self {
        DemoSize { villages: 6, activities_per_village: 450 }
    }
}

/// The accounts the demo created, to print for the newcomer.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Login names and roles (all with [`DEMO_PASSWORD`]).
    pub logins: Vec<(String, Role)>,
    /// Records created.
    pub records: usize,
}

/// A simulated phone: the device engine and the identity the server knows it by.
struct Phone {
    device: Device<MemoryStore>,
    auth: AuthDevice,
}

impl Phone {
    /// Sends everything unsent through the real ingest.
    async fn push(&mut self, state: &AppState) -> anyhow::Result<()> {
        loop {
            let req = self.device.prepare_sync(2 * 1024 * 1024).map_err(|e| anyhow::anyhow!("{e}"))?;
            if req.push.is_empty() {
                return Ok(());
            }
            let refused =
                ingest(state, &self.auth, &req.push, Channel::Sync).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(refused.is_empty(), "demo records refused: {:?}", refused.first().map(|r| &r.message));
            let response = sotay_sync_core::wire::SyncResponse {
                acked_through: req.outbox_through,
                cursor: req.cursor,
                ..Default::default()
            };
            self.device.apply_sync(&req, response).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
}

async fn phone(
    state: &AppState,
    user: (sotay_sync_core::UserId, Role),
    commune: sotay_sync_core::CommuneId,
    village: Option<sotay_sync_core::VillageId>,
    name: &str,
) -> anyhow::Result<Phone> {
    let auth = AuthDevice {
        device: sotay_sync_core::DeviceId(uuid::Uuid::new_v4()),
        user: user.0,
        role: user.1,
        commune,
        village,
        scope_changed: false,
        scope_unrecorded: false,
    };
    let mut tx = state.db.begin_write().await?;
    admin::insert_device(&mut tx, &auth, name, &crate::auth::new_device_secret(), DeviceKind::Phone).await?;
    tx.commit().await?;
    let identity = DeviceIdentity {
        device: auth.device,
        user: auth.user,
        commune,
        village: village.unwrap_or(sotay_sync_core::VillageId(uuid::Uuid::nil())),
    };
    Ok(Phone { device: Device::new(identity, MemoryStore::default()), auth })
}

/// Seeds the demo commune, unless the database already holds one.
pub async fn seed(state: &AppState, size: DemoSize) -> anyhow::Result<Option<DemoSummary>> {
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM communes").fetch_one(&state.db.read).await?.get(0);
    if existing > 0 {
        return Ok(None);
    }
    let db = &state.db;
    let commune = admin::create_commune(db, "Tân Yên").await?;
    for (code, name) in UNITS {
        admin::create_unit(db, commune, code, name).await?;
    }
    let mut logins = Vec::new();
    let mut make_user =
        async |username: &str, name: &str, role: Role, village| -> anyhow::Result<sotay_sync_core::UserId> {
            let id = admin::create_user(db, NewUser { username, display_name: name, role, commune, village }).await?;
            admin::set_password(db, id, DEMO_PASSWORD).await?;
            logins.push((username.to_string(), role));
            Ok(id)
        };
    let reviewer = make_user("vhxh", "Cán bộ Phòng VHXH", Role::Reviewer, None).await?;
    make_user("daumoi", "Đầu mối phòng chống bạo lực giới", Role::GbvFocalPoint, None).await?;
    make_user("quantri", "Quản trị", Role::Admin, None).await?;

    let now = crate::now_ms();
    let today = Date::from_unix_ms(now);
    let mut records = 0;
    let mut reviewer_phone = phone(state, (reviewer, Role::Reviewer), commune, None, "Máy tính Phòng VHXH").await?;
    for (v, village_name) in VILLAGES.iter().enumerate().take(size.villages.min(VILLAGES.len())) {
        let village = admin::create_village(db, commune, village_name).await?;
        let user = make_user(
            &format!("ctv{}", v + 1),
            &format!("Cộng tác viên {village_name}"),
            Role::Collaborator,
            Some(village),
        )
        .await?;
        let mut a = phone(state, (user, Role::Collaborator), commune, Some(village), "Điện thoại 1").await?;
        let mut b = phone(state, (user, Role::Collaborator), commune, Some(village), "Điện thoại 2").await?;
        let base = (v as u32) * 10_000;
        let mut ids = Vec::new();
        for i in 0..size.activities_per_village {
            let id = a
                .device
                .create(RecordKind::Activity, &sample::activity(base + i, 2026), now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // Most records are submitted once complete (those dated after today stay drafts).
            if i % 10 < 7 {
                let _ = a.device.submit(id, today, now);
            }
            ids.push(id);
        }
        for i in 0..5 {
            a.device
                .create(RecordKind::GbvReferral, &sample::gbv_referral(base + i, 2026), now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        // Entered twice: the same session logged again on the second phone, attendance off by one.
        for i in 0..5u32 {
            let mut edits = sample::activity(base + i * 7, 2026);
            for e in edits.iter_mut() {
                if let Edit::AttendanceFemale(n) = e {
                    *n += 1;
                }
            }
            b.device.create(RecordKind::Activity, &edits, now).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        a.push(state).await?;
        b.push(state).await?;
        records += size.activities_per_village as usize + 10;

        // Concurrent edits of the same count on both phones: conflicts for a person to resolve.
        for (k, id) in ids.iter().take(8).enumerate() {
            let doc = a.device.store().load_record(*id).map_err(|e| match e {})?.expect("created above");
            let mut on_b = Record::load(&doc, Some(Editor { device: b.auth.device, user }))?;
            let change = on_b.edit(&[Edit::AttendanceMale(90 + k as u32)], now + 1)?.expect("a new value");
            a.device.edit(*id, &[Edit::AttendanceMale(80 + k as u32)], now + 1).map_err(|e| anyhow::anyhow!("{e}"))?;
            let push = [RecordChanges { record: id.as_bytes().to_vec(), changes: vec![ChangeBytes(change)] }];
            ingest(state, &b.auth, &push, Channel::Sync).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        a.push(state).await?;

        // The office approves some submitted records and returns a few with a comment.
        for id in ids.iter().skip(20).step_by(3).take(60) {
            review(state, &mut reviewer_phone, *id, now + 2, None).await?;
        }
        for id in ids.iter().skip(21).step_by(37).take(3) {
            let comment = "Thiếu số người dân tộc thiểu số tham dự; bổ sung rồi gửi lại.";
            review(state, &mut reviewer_phone, *id, now + 2, Some(comment)).await?;
        }
        // Most villages report each record the day after it happened, as if their phones had
        // synced then (the demo is seeded in one go); the last two report late, today.
        if v < VILLAGES.len() - 2 {
            report_promptly(state, village, now).await?;
        }
    }
    Ok(Some(DemoSummary { logins, records }))
}

/// Dates the first storing of a village's records to the day after each was held (or reported),
/// when that is in the past: the completeness page then shows villages on time and late.
async fn report_promptly(state: &AppState, village: sotay_sync_core::VillageId, now: i64) -> anyhow::Result<()> {
    let rows = sqlx::query("SELECT record_id, event_date FROM record_facts WHERE village_id = $1")
        .bind(village.as_bytes().as_slice())
        .fetch_all(&state.db.read)
        .await?;
    let mut tx = state.db.begin_write().await?;
    for row in rows {
        let Some(day) = row.get::<Option<String>, _>(1).and_then(|d| d.parse::<Date>().ok()) else { continue };
        let next_day = (day.days_since_epoch() + 1) * 86_400_000;
        sqlx::query("UPDATE record_facts SET first_stored_at = $1 WHERE village_id = $2 AND record_id = $3")
            .bind(next_day.min(now))
            .bind(village.as_bytes().as_slice())
            .bind(row.get::<Vec<u8>, _>(0))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The reviewer approves a submitted record, or returns it with a comment.
async fn review(
    state: &AppState,
    reviewer: &mut Phone,
    id: RecordId,
    now: i64,
    returned: Option<&str>,
) -> anyhow::Result<()> {
    let doc: Vec<u8> = sqlx::query("SELECT doc FROM records WHERE commune_id = $1 AND id = $2")
        .bind(reviewer.auth.commune.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .fetch_one(&state.db.read)
        .await?
        .get(0);
    let mut record = Record::load(&doc, Some(Editor { device: reviewer.auth.device, user: reviewer.auth.user }))?;
    let change = match returned {
        None => record.approve(now),
        Some(comment) => record.return_to_author(comment, now),
    };
    if let Ok(change) = change {
        let push = [RecordChanges { record: id.as_bytes().to_vec(), changes: vec![ChangeBytes(change)] }];
        // Approving is a web-session action (sotay_sync_core::rules), as in the reviewers' app.
        ingest(state, &reviewer.auth, &push, Channel::Api).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}
