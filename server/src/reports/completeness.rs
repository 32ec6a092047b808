//! Completeness: which villages and units have reported activities for a period, and whether in
//! time for the commune's deadline (25 November in the 2026 plan; `communes.report_deadline`).
//! "On time" means the server had the record by the end of the deadline day, Vietnam time: what
//! the commune office can see, whatever a phone's clock said.

use super::build::{GroupBy, groups, t};
use super::period::{Period, vi};
use super::table::{Cell, Row, Table};
use crate::db::Db;
use sotay_sync_core::{CommuneId, Date, Lang};
use sqlx::Row as _;
use std::collections::HashMap;

use super::VIETNAM_OFFSET_MS;

/// The last millisecond of `day` in Vietnam, as Unix ms.
pub fn end_of_day_ms(day: Date) -> i64 {
    (day.days_since_epoch() + 1) * 86_400_000 - VIETNAM_OFFSET_MS - 1
}

/// The completeness tables (by village, by unit) of a commune for a period.
pub async fn tables(
    db: &Db,
    commune: CommuneId,
    deadline_day: &str,
    period: &Period,
    now_ms: i64,
    lang: Lang,
) -> sqlx::Result<Vec<Table>> {
    let deadline = super::build::deadline(deadline_day, period.to);
    let deadline_ms = deadline.map_or(i64::MAX, end_of_day_ms);
    let mut out = Vec::new();
    for by in [GroupBy::Village, GroupBy::Unit] {
        let column = match by {
            GroupBy::Village => "f.village_id",
            GroupBy::Unit => "f.unit",
        };
        let sql = format!(
            "SELECT {column}, COUNT(*), SUM(CASE WHEN f.first_stored_at <= $5 THEN 1 ELSE 0 END),
                    SUM(CASE WHEN f.review_state = 'approved' THEN 1 ELSE 0 END)
             FROM record_facts f WHERE {} GROUP BY {column}",
            super::build::filter(false)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(commune.as_bytes().as_slice())
            .bind("activity")
            .bind(period.from.to_string())
            .bind(period.to.to_string())
            .bind(deadline_ms)
            .fetch_all(&db.read)
            .await?;
        let found: HashMap<String, (u64, u64, u64)> = rows
            .iter()
            .map(|r| {
                let key = match by {
                    GroupBy::Village => {
                        r.get::<Option<Vec<u8>>, _>(0).map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
                    }
                    GroupBy::Unit => r.get::<Option<String>, _>(0),
                };
                let count = |i| r.get::<Option<i64>, _>(i).unwrap_or(0).max(0) as u64;
                (key.unwrap_or_default(), (count(1), count(2), count(3)))
            })
            .collect();
        let rows = groups(db, commune, by)
            .await?
            .into_iter()
            .map(|(key, name)| {
                let (count, on_time, approved) = found.get(&key).copied().unwrap_or_default();
                let status = if on_time > 0 {
                    t(lang, "Đã báo cáo đúng hạn", "Reported on time")
                } else if count > 0 {
                    t(lang, "Báo cáo muộn", "Reported late")
                } else if now_ms > deadline_ms {
                    t(lang, "Chưa báo cáo (quá hạn)", "Not reported (overdue)")
                } else {
                    t(lang, "Chưa báo cáo", "Not reported yet")
                };
                Row {
                    label: name,
                    cells: vec![Cell::Count(count), Cell::Count(on_time), Cell::Count(approved), Cell::Text(status)],
                }
            })
            .collect();
        let deadline_text = deadline.map(vi).unwrap_or_default();
        let (key, title, heading) = match by {
            GroupBy::Village => (
                "completeness_by_village",
                t(lang, "Tình hình báo cáo của các thôn", "Reporting by village"),
                t(lang, "Thôn", "Village"),
            ),
            GroupBy::Unit => (
                "completeness_by_unit",
                t(lang, "Tình hình báo cáo của các đơn vị", "Reporting by unit"),
                t(lang, "Đơn vị", "Unit"),
            ),
        };
        out.push(Table {
            key: key.into(),
            title: format!("{title} ({} {deadline_text})", t(lang, "hạn", "deadline")),
            row_heading: heading,
            columns: vec![
                t(lang, "Số hoạt động", "Activities"),
                t(lang, "Gửi trước hạn", "Stored by the deadline"),
                t(lang, "Đã duyệt", "Approved"),
                t(lang, "Tình trạng", "Status"),
            ],
            rows,
            totals: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_ends_at_midnight_in_vietnam() {
        let day = Date::new(2026, 11, 25).unwrap();
        let end = end_of_day_ms(day);
        assert_eq!(Date::from_unix_ms(end + VIETNAM_OFFSET_MS), day);
        assert_eq!(Date::from_unix_ms(end + 1 + VIETNAM_OFFSET_MS), Date::new(2026, 11, 26).unwrap());
    }
}
