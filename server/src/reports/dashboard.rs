//! The dashboard's figures for one commune and year, from the report projection
//! (`record_facts`): activities held, participants by sex, trainings and trainees, per village and
//! per month, and GBV referrals per month. Deleted records never count; every state of review
//! does (the dashboard shows work as it comes in; the reports can keep to approved records).

use crate::db::Db;
use sotay_sync_core::{CommuneId, VillageId};
use sqlx::Row;
use std::collections::BTreeMap;

/// Activities and participants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Activities held.
    pub activities: i64,
    /// Female participants.
    pub female: i64,
    /// Male participants.
    pub male: i64,
    /// Trainings held.
    pub trainings: i64,
    /// Participants of trainings.
    pub trainees: i64,
}

impl Figures {
    /// Female and male participants.
    pub fn total(&self) -> i64 {
        self.female + self.male
    }

    fn add(&mut self, other: &Figures) {
        self.activities += other.activities;
        self.female += other.female;
        self.male += other.male;
        self.trainings += other.trainings;
        self.trainees += other.trainees;
    }
}

/// The dashboard of a year.
#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    /// The whole year.
    pub total: Figures,
    /// Per village (every village of the commune, by name).
    pub villages: Vec<(VillageId, String, Figures)>,
    /// Per month, 1 to 12.
    pub months: [Figures; 12],
    /// GBV referrals reported per month, 1 to 12.
    pub gbv_months: [i64; 12],
}

impl Dashboard {
    /// GBV referrals of the year.
    pub fn gbv_total(&self) -> i64 {
        self.gbv_months.iter().sum()
    }
}

/// The dashboard of `commune` for `year`.
pub async fn dashboard(db: &Db, commune: CommuneId, year: u16) -> anyhow::Result<Dashboard> {
    let (from, to) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
    let rows = sqlx::query(
        "SELECT village_id, substr(event_date, 6, 2), CASE WHEN activity_type = 'training' THEN 1 ELSE 0 END, COUNT(*),
                CAST(COALESCE(SUM(female), 0) AS BIGINT), CAST(COALESCE(SUM(male), 0) AS BIGINT)
         FROM record_facts
         WHERE commune_id = $1 AND kind = 'activity' AND deleted = FALSE AND event_date >= $2 AND event_date <= $3
         GROUP BY village_id, substr(event_date, 6, 2), CASE WHEN activity_type = 'training' THEN 1 ELSE 0 END",
    )
    .bind(commune.as_bytes().as_slice())
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.read)
    .await?;
    let mut by_village: BTreeMap<Vec<u8>, Figures> = BTreeMap::new();
    let mut out = Dashboard::default();
    for row in rows {
        let month: usize = row.get::<String, _>(1).parse().unwrap_or(0);
        let training = row.get::<i64, _>(2) == 1;
        let (count, female, male) = (row.get::<i64, _>(3), row.get::<i64, _>(4), row.get::<i64, _>(5));
        let f = Figures {
            activities: count,
            female,
            male,
            trainings: if training { count } else { 0 },
            trainees: if training { female + male } else { 0 },
        };
        by_village.entry(row.get(0)).or_default().add(&f);
        if let Some(m) = month.checked_sub(1).and_then(|i| out.months.get_mut(i)) {
            m.add(&f);
        }
        out.total.add(&f);
    }
    for (id, name) in crate::admin::villages(db, commune).await? {
        let f = by_village.get(id.as_bytes().as_slice()).copied().unwrap_or_default();
        out.villages.push((id, name, f));
    }
    let gbv = sqlx::query(
        "SELECT substr(event_date, 6, 2), COUNT(*) FROM record_facts
         WHERE commune_id = $1 AND kind = 'gbv_referral' AND deleted = FALSE AND event_date >= $2 AND event_date <= $3
         GROUP BY substr(event_date, 6, 2)",
    )
    .bind(commune.as_bytes().as_slice())
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.read)
    .await?;
    for row in gbv {
        let month: usize = row.get::<String, _>(0).parse().unwrap_or(0);
        if let Some(m) = month.checked_sub(1).and_then(|i| out.gbv_months.get_mut(i)) {
            *m = row.get(1);
        }
    }
    Ok(out)
}
