//! Suspected duplicates: two phones of one village logging the same session. The rule: two
//! activities of the same commune and village, neither deleted, held the same day, of the same
//! type, whose attendance totals (female + male) differ by at most max(2, 10 % of the larger).
//!
//! Pairs are detected as a push is written, in the group-commit writer's transaction (one indexed
//! query per commune of a batch, and one insert of the pairs found), kept once each (the smaller id first), and listed
//! for reviewers while both records stand. A reviewer merges a pair (the kept record takes the
//! values chosen per field, the other is soft-deleted, both as ordinary edits that reach the
//! phones) or dismisses it; a decided pair is never suggested again.

use crate::db::{Db, ROWS_PER_INSERT, multi_row_sql};
use sotay_sync_core::{CommuneId, RecordId, RecordView, UserId};
use sqlx::Row;

/// Whether two attendance totals are close enough to be one session counted twice.
pub fn similar(a: i64, b: i64) -> bool {
    (a - b).abs() <= (a.max(b) / 10).max(2)
}

/// Detects the pairs the activities `ids` (just written in `tx`, the group-commit writer's
/// transaction) form with the commune's other activities, and records the new ones in the same
/// transaction: no commit of its own, so detection adds no disk flush to a push. Returns how many
/// were new.
pub(crate) async fn detect(tx: &mut sqlx::AnyConnection, commune: CommuneId, ids: &[RecordId]) -> sqlx::Result<usize> {
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT a.record_id, b.record_id, COALESCE(a.female, 0) + COALESCE(a.male, 0),
                    COALESCE(b.female, 0) + COALESCE(b.male, 0)
             FROM record_facts a JOIN record_facts b
               ON b.commune_id = a.commune_id AND b.kind = 'activity' AND b.event_date = a.event_date
              AND b.village_id = a.village_id AND b.activity_type = a.activity_type
              AND b.record_id <> a.record_id AND b.deleted = FALSE
             WHERE a.commune_id = $1 AND a.kind = 'activity' AND a.deleted = FALSE AND a.record_id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(commune.as_bytes().as_slice());
        for id in chunk {
            q = q.bind(id.as_bytes().as_slice());
        }
        for r in q.fetch_all(&mut *tx).await? {
            if similar(r.get(2), r.get(3)) {
                let (a, b): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(1));
                found.push(if a < b { (a, b) } else { (b, a) });
            }
        }
    }
    found.sort();
    found.dedup();
    let now = crate::now_ms();
    let mut new = 0;
    for chunk in found.chunks(ROWS_PER_INSERT) {
        let sql = multi_row_sql(
            tx,
            "INSERT INTO duplicate_pairs (commune_id, first_id, second_id, detected_at, status)",
            5,
            chunk.len(),
            " ON CONFLICT (commune_id, first_id, second_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (first, second) in chunk {
            q = q
                .bind(commune.as_bytes().as_slice())
                .bind(first.as_slice())
                .bind(second.as_slice())
                .bind(now)
                .bind("open");
        }
        new += q.execute(&mut *tx).await?.rows_affected() as usize;
    }
    Ok(new)
}

/// An open pair with both records as they are now.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = DuplicatePair)]
pub struct Pair {
    /// The record with the smaller id.
    pub first: RecordView,
    /// The other.
    pub second: RecordView,
    /// When the pair was found (Unix ms).
    pub detected_at: i64,
}

/// The open pairs of a commune whose records both still stand, oldest first.
pub async fn open_pairs(db: &Db, commune: CommuneId, limit: i64) -> anyhow::Result<Vec<Pair>> {
    let rows = sqlx::query(
        "SELECT a.view, b.view, p.detected_at FROM duplicate_pairs p
         JOIN records a ON a.commune_id = p.commune_id AND a.id = p.first_id
         JOIN records b ON b.commune_id = p.commune_id AND b.id = p.second_id
         WHERE p.commune_id = $1 AND p.status = 'open' AND a.deleted = FALSE AND b.deleted = FALSE
         ORDER BY p.detected_at, p.first_id LIMIT $2",
    )
    .bind(commune.as_bytes().as_slice())
    .bind(limit)
    .fetch_all(&db.read)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pair {
                first: serde_json::from_str(&r.get::<String, _>(0))?,
                second: serde_json::from_str(&r.get::<String, _>(1))?,
                detected_at: r.get(2),
            })
        })
        .collect()
}

/// Whether `a` and `b` form an open pair of this commune.
pub async fn is_open(db: &Db, commune: CommuneId, a: RecordId, b: RecordId) -> sqlx::Result<bool> {
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    let row = sqlx::query(
        "SELECT 1 FROM duplicate_pairs WHERE commune_id = $1 AND first_id = $2 AND second_id = $3 AND status = 'open'",
    )
    .bind(commune.as_bytes().as_slice())
    .bind(first.as_bytes().as_slice())
    .bind(second.as_bytes().as_slice())
    .fetch_optional(&db.read)
    .await?;
    Ok(row.is_some())
}

/// Decides an open pair: dismissed (`kept` = None) or merged into `kept`. False if the pair was
/// not open.
pub async fn decide(
    db: &Db,
    commune: CommuneId,
    a: RecordId,
    b: RecordId,
    kept: Option<RecordId>,
    by: UserId,
) -> anyhow::Result<bool> {
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE duplicate_pairs SET status = $1, decided_by = $2, decided_at = $3, kept_id = $4
         WHERE commune_id = $5 AND first_id = $6 AND second_id = $7 AND status = 'open'",
    )
    .bind(if kept.is_some() { "merged" } else { "dismissed" })
    .bind(by.as_bytes().as_slice())
    .bind(crate::now_ms())
    .bind(kept.map(|k| k.as_bytes().to_vec()))
    .bind(commune.as_bytes().as_slice())
    .bind(first.as_bytes().as_slice())
    .bind(second.as_bytes().as_slice())
    .execute(&mut *tx)
    .await?;
    let action = if kept.is_some() { "duplicate.merge" } else { "duplicate.dismiss" };
    crate::admin::audit(&mut tx, Some(by), None, action, Some(first.as_bytes()), &second.to_string()).await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::similar;

    #[test]
    fn attendance_within_two_or_ten_percent_is_similar() {
        assert!(similar(30, 32));
        assert!(similar(30, 33), "10 % of 33, rounded down, is 3");
        assert!(!similar(30, 34));
        assert!(similar(100, 110));
        assert!(!similar(100, 112));
        assert!(similar(0, 2));
    }
}
