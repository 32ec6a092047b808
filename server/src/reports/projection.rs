//! The report projection: a narrow row of typed columns per record (`record_facts`), derived from
//! the record's view and written in the same transaction as the record, by both engines. Sets are
//! bit masks ([`mask`]: bit i for the i-th code of the enumeration), so a record is one row and
//! one statement per batch writes them all. Reports are then plain `GROUP BY`s and masked sums
//! over typed columns: no engine-specific JSON functions, no documents read.
//!
//! Records stored before the projection existed are filled in on start ([`backfill`]).

use crate::db::{Db, ROWS_PER_INSERT, multi_row_sql};
use sotay_sync_core::schema::Coded;
use sotay_sync_core::{RecordId, RecordView};
use sqlx::{Any, Row, Transaction};

/// A record's row of the projection.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    record: RecordId,
    commune: Vec<u8>,
    village: Vec<u8>,
    kind: &'static str,
    unit: Option<String>,
    plan_item: Option<&'static str>,
    activity_type: Option<&'static str>,
    format: Option<&'static str>,
    event_date: Option<String>,
    female: Option<i64>,
    male: Option<i64>,
    ethnic_minority: Option<i64>,
    survivor_sex: Option<&'static str>,
    age_group: Option<&'static str>,
    setting: Option<&'static str>,
    case_status: Option<&'static str>,
    review_state: &'static str,
    deleted: bool,
    conflicted: bool,
    topics: i64,
    violence_types: i64,
    referred_to: i64,
}

impl Facts {
    /// The projection of a record's view.
    pub fn of(v: &RecordView) -> Facts {
        Facts {
            record: v.id,
            commune: v.commune.as_bytes().to_vec(),
            village: v.village.as_bytes().to_vec(),
            kind: v.kind.code(),
            unit: v.unit.clone(),
            plan_item: v.plan_item.map(|c| c.code()),
            activity_type: v.activity_type.map(|c| c.code()),
            format: v.format.map(|c| c.code()),
            event_date: v.held_on.or(v.reported_on).map(|d| d.to_string()),
            female: v.attendance_female,
            male: v.attendance_male,
            ethnic_minority: v.attendance_ethnic_minority,
            survivor_sex: v.survivor_sex.map(|c| c.code()),
            age_group: v.survivor_age_group.map(|c| c.code()),
            setting: v.setting.map(|c| c.code()),
            case_status: v.case_status.map(|c| c.code()),
            review_state: v.review_state.code(),
            deleted: v.deleted,
            conflicted: !v.conflicts.is_empty() || v.delete_conflict,
            topics: mask(&v.topics),
            violence_types: mask(&v.violence_types),
            referred_to: mask(&v.referred_to),
        }
    }
}

impl Facts {
    /// A GBV case that is closed: the projection keeps when it was first seen closed
    /// (`closed_at`, where the retention of its history starts), until it is reopened.
    fn closed(&self) -> bool {
        self.case_status == Some(sotay_sync_core::schema::CaseStatus::Closed.code())
    }
}

/// A set as a bit mask: bit i is the i-th code of the enumeration (`T::ALL`), whose order is
/// stable because codes are only ever appended.
pub fn mask<T: Coded + PartialEq>(members: &[T]) -> i64 {
    T::ALL.iter().enumerate().filter(|(_, c)| members.contains(c)).fold(0, |m, (i, _)| m | (1 << i))
}

/// The bit of one code in a [`mask`].
pub fn bit<T: Coded + PartialEq>(code: T) -> i64 {
    T::ALL.iter().position(|c| *c == code).map_or(0, |i| 1 << i)
}

/// Writes the projection of these records (new or changed) inside the transaction that writes
/// them. A record's first row keeps its `first_stored_at`; a case closed keeps its `closed_at`.
pub async fn write<'a>(
    tx: &mut Transaction<'_, Any>,
    facts: impl IntoIterator<Item = &'a Facts>,
    now: i64,
) -> sqlx::Result<()> {
    let facts: Vec<&Facts> = facts.into_iter().collect();
    for chunk in facts.chunks(ROWS_PER_INSERT) {
        let sql = multi_row_sql(
            tx,
            "INSERT INTO record_facts (record_id, commune_id, village_id, kind, unit, plan_item, activity_type, format,
                event_date, female, male, ethnic_minority, survivor_sex, age_group, setting, case_status, topics,
                violence_types, referred_to, review_state, deleted, conflicted, first_stored_at, closed_at)",
            24,
            chunk.len(),
            " ON CONFLICT (commune_id, record_id) DO UPDATE SET unit = excluded.unit, plan_item = excluded.plan_item,
                activity_type = excluded.activity_type, format = excluded.format, event_date = excluded.event_date,
                female = excluded.female, male = excluded.male, ethnic_minority = excluded.ethnic_minority,
                survivor_sex = excluded.survivor_sex, age_group = excluded.age_group, setting = excluded.setting,
                case_status = excluded.case_status, topics = excluded.topics, violence_types = excluded.violence_types,
                referred_to = excluded.referred_to, review_state = excluded.review_state, deleted = excluded.deleted,
                conflicted = excluded.conflicted,
                closed_at = CASE WHEN excluded.case_status = 'closed'
                                 THEN COALESCE(record_facts.closed_at, excluded.closed_at) END",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for f in chunk {
            q = q
                .bind(f.record.as_bytes().as_slice())
                .bind(f.commune.as_slice())
                .bind(f.village.as_slice())
                .bind(f.kind)
                .bind(f.unit.as_deref())
                .bind(f.plan_item)
                .bind(f.activity_type)
                .bind(f.format)
                .bind(f.event_date.as_deref())
                .bind(f.female)
                .bind(f.male)
                .bind(f.ethnic_minority)
                .bind(f.survivor_sex)
                .bind(f.age_group)
                .bind(f.setting)
                .bind(f.case_status)
                .bind(f.topics)
                .bind(f.violence_types)
                .bind(f.referred_to)
                .bind(f.review_state)
                .bind(f.deleted)
                .bind(f.conflicted)
                .bind(now)
                .bind(f.closed().then_some(now));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Fills in the projection of records stored before it existed (from their stored views).
/// Returns how many records it projected. Once every record has its row, every write keeps it
/// so: a mark in `server_state` says so, and later starts skip the search (which reads every
/// record, seconds on a province's database).
pub async fn backfill(db: &Db) -> anyhow::Result<usize> {
    let complete =
        sqlx::query("SELECT 1 FROM server_state WHERE name = 'record_facts_complete'").fetch_optional(&db.read).await?;
    if complete.is_some() {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        let rows = sqlx::query(
            "SELECT r.view FROM records r LEFT JOIN record_facts f ON f.commune_id = r.commune_id AND f.record_id = r.id
             WHERE f.record_id IS NULL LIMIT 500",
        )
        .fetch_all(&db.read)
        .await?;
        if rows.is_empty() {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO server_state (name, value) VALUES ('record_facts_complete', $1) ON CONFLICT DO NOTHING",
            )
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(done);
        }
        let facts: Vec<Facts> = rows
            .iter()
            .map(|r| serde_json::from_str::<RecordView>(&r.get::<String, _>(0)).map(|v| Facts::of(&v)))
            .collect::<Result<_, _>>()?;
        let mut tx = db.begin_write().await?;
        write(&mut tx, &facts, crate::now_ms()).await?;
        tx.commit().await?;
        done += facts.len();
    }
}
