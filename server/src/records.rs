//! Reading records for people (the JSON API today, the HTML pages next): one stored record with
//! its place (commune, village, kind, creating device), the page of records a caller may read
//! (filtered in SQL by the access policy, so pages are full), a commune's GBV views for the
//! aggregates, and the audit rows of GBV case views. The handlers decide what to answer; the SQL
//! lives here.

use crate::admin::audit;
use crate::auth::AuthDevice;
use crate::db::Db;
use crate::policy::{self, Read, Relation};
use sotay_sync_core::rules::Channel;
use sotay_sync_core::schema::PlanItem;
use sotay_sync_core::{Coded, CommuneId, Date, RecordId, RecordKind, RecordView, ReviewState, VillageId};
use sqlx::Row;

/// A stored record: where it lives and its projection (and its document, when asked for).
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record id.
    pub id: RecordId,
    commune: Vec<u8>,
    village: Vec<u8>,
    /// Its kind.
    pub kind: RecordKind,
    owner: Vec<u8>,
    view: String,
    /// The Automerge document, when read.
    pub doc: Option<Vec<u8>>,
}

impl Stored {
    /// How the caller relates to it.
    pub fn relation(&self, auth: &AuthDevice) -> Relation {
        Relation::of(auth, &self.commune, &self.village, &self.owner)
    }

    /// How the caller may read it through the API.
    pub fn read(&self, auth: &AuthDevice) -> Read {
        policy::read(auth.role, self.kind, self.relation(auth), Channel::Api)
    }

    /// Its projection.
    pub fn view(&self) -> anyhow::Result<RecordView> {
        Ok(serde_json::from_str(&self.view)?)
    }
}

fn stored_of(r: &sqlx::any::AnyRow, with_doc: bool) -> anyhow::Result<Stored> {
    let corrupt = || anyhow::anyhow!("a stored record row is corrupt");
    Ok(Stored {
        id: RecordId::from_slice(&r.get::<Vec<u8>, _>(0)).ok_or_else(corrupt)?,
        commune: r.get(1),
        village: r.get(2),
        kind: RecordKind::from_code(&r.get::<String, _>(3)).ok_or_else(corrupt)?,
        owner: r.get(4),
        view: r.get(5),
        doc: if with_doc { Some(r.get(6)) } else { None },
    })
}

/// One record of `commune` (a record is named by its commune and its id), with its document if
/// `with_doc`.
pub async fn stored(db: &Db, commune: CommuneId, id: RecordId, with_doc: bool) -> anyhow::Result<Option<Stored>> {
    // The document only when asked for: it is the largest column by far.
    let sql = if with_doc {
        "SELECT id, commune_id, village_id, kind, owner_device, view, doc FROM records WHERE commune_id = $1 AND id = $2"
    } else {
        "SELECT id, commune_id, village_id, kind, owner_device, view FROM records WHERE commune_id = $1 AND id = $2"
    };
    let row = sqlx::query(sql)
        .bind(commune.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&db.read)
        .await?;
    row.map(|r| stored_of(&r, with_doc)).transpose()
}

/// Which page of records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    /// Only this kind.
    pub kind: Option<RecordKind>,
    /// Only this village.
    pub village: Option<VillageId>,
    /// Only records in this review state.
    pub review: Option<ReviewState>,
    /// Only records with an open conflict.
    pub conflicted: bool,
    /// Only activities of this item of the plan.
    pub plan_item: Option<PlanItem>,
    /// Only records in a suspected duplicate pair waiting for a person.
    pub duplicate: bool,
    /// Only records held (activities) or reported (GBV referrals) on or after this day.
    pub from: Option<Date>,
    /// … and on or before this day.
    pub to: Option<Date>,
    /// The order of the page.
    pub sort: Sort,
    /// Records after this one in that order: its id, and for the orders by date its date.
    pub after: Option<RecordId>,
    /// The date of `after`, for the orders by date (`None`: an undated record).
    pub after_date: Option<Date>,
    /// At most this many.
    pub limit: i64,
}

/// The order of a page of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// As they were created (record ids are time-ordered).
    #[default]
    Created,
    /// By the day held (or reported), the latest first.
    DateDesc,
    /// By the day held (or reported), the earliest first.
    DateAsc,
}

/// A page of the records the caller may read, by id: what it may read is decided in the query
/// (derived from the policy), so a page is full unless it is the last.
pub async fn page(db: &Db, auth: &AuthDevice, p: Page) -> anyhow::Result<Vec<Stored>> {
    let filter = policy::read_filter(auth, Channel::Api, policy::Table::Records, 12);
    // Keyset paging in every order: after ($9 = date, $3 = id) of the last record shown.
    let day = "COALESCE(f.event_date, '')";
    let (after, order) = match p.sort {
        Sort::Created => ("r.id > $3".to_string(), "r.id".to_string()),
        Sort::DateDesc => {
            (format!("($9 IS NULL OR {day} < $9 OR ({day} = $9 AND r.id > $3))"), format!("{day} DESC, r.id"))
        }
        Sort::DateAsc => (format!("($9 IS NULL OR {day} > $9 OR ({day} = $9 AND r.id > $3))"), format!("{day}, r.id")),
    };
    let sql = format!(
        "SELECT r.id, r.commune_id, r.village_id, r.kind, r.owner_device, r.view
         FROM records r LEFT JOIN record_facts f ON f.commune_id = r.commune_id AND f.record_id = r.id
         WHERE ($1 IS NULL OR r.kind = $1) AND ($2 IS NULL OR r.village_id = $2) AND {after}
           AND ($5 IS NULL OR f.review_state = $5) AND ($6 = FALSE OR f.conflicted = TRUE)
           AND ($7 IS NULL OR f.event_date >= $7) AND ($8 IS NULL OR f.event_date <= $8)
           AND ($10 IS NULL OR f.plan_item = $10)
           AND ($11 = FALSE OR r.id IN (
                SELECT first_id FROM duplicate_pairs WHERE commune_id = r.commune_id AND status = 'open'
                UNION SELECT second_id FROM duplicate_pairs WHERE commune_id = r.commune_id AND status = 'open'))
           AND {}
         ORDER BY {order} LIMIT $4",
        filter.sql
    );
    let after_date = match (p.sort, p.after) {
        (Sort::Created, _) | (_, None) => None,
        (_, Some(_)) => Some(p.after_date.map(|d| d.to_string()).unwrap_or_default()),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(p.kind.map(|k| k.code()))
        .bind(p.village.map(|v| v.as_bytes().to_vec()))
        .bind(p.after.map(|a| a.as_bytes().to_vec()).unwrap_or_default())
        .bind(p.limit)
        .bind(p.review.map(|r| r.code()))
        .bind(p.conflicted)
        .bind(p.from.map(|d| d.to_string()))
        .bind(p.to.map(|d| d.to_string()))
        .bind(after_date)
        .bind(p.plan_item.map(|i| i.code()))
        .bind(p.duplicate);
    for b in filter.binds {
        query = query.bind(b);
    }
    query.fetch_all(&db.read).await?.iter().map(|r| stored_of(r, false)).collect()
}

/// Writes one `gbv.view` audit row per case a focal point saw (`what`: list, record, history).
pub async fn audit_views(db: &Db, auth: &AuthDevice, ids: &[RecordId], what: &str) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for id in ids {
        audit(&mut tx, Some(auth.user), Some(auth.device), "gbv.view", Some(id.as_bytes()), what).await?;
    }
    tx.commit().await
}

/// The projections of a commune's GBV referrals that are not deleted (for the aggregates).
pub async fn gbv_views(db: &Db, commune: CommuneId) -> anyhow::Result<Vec<RecordView>> {
    let rows =
        sqlx::query("SELECT view FROM records WHERE commune_id = $1 AND kind = 'gbv_referral' AND deleted = FALSE")
            .bind(commune.as_bytes().as_slice())
            .fetch_all(&db.read)
            .await?;
    rows.iter().map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?)).collect()
}
