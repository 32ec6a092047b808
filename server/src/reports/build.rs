//! The plan-shaped report of a commune for a period, from the report projection: activities by
//! type and format, participants by sex, trainings and trainees, plan sections, topics, and GBV
//! referrals by age group and sex, setting, violence type, service and case status. The GBV tables
//! are exact for a GBV focal point and small-cell suppressed for everyone else.

use super::period::Period;
use super::projection::bit;
use super::suppress;
use super::table::{Cell, Report, Row, Table};
use crate::db::Db;
use sotay_sync_core::schema::{
    ActivityType, AgeGroup, CaseStatus, Coded, Format, Lang, PlanItem, Service, Setting, Sex, Topic, ViolenceType,
};
use sotay_sync_core::{CommuneId, Date};
use sqlx::Row as _;
use std::collections::{BTreeMap, HashMap};

/// The rows of the activity tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per village.
    Village,
    /// One row per organising unit.
    Unit,
}

/// How GBV figures appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gbv {
    /// Not at all.
    Hidden,
    /// Counts 1–4 as "<5", with complementary suppression.
    Suppressed,
    /// Exact (GBV focal points; audited by the caller).
    Exact,
}

/// What a report is asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The commune.
    pub commune: CommuneId,
    /// The period.
    pub period: Period,
    /// Only approved records count.
    pub approved_only: bool,
    /// Rows of the activity tables.
    pub by: GroupBy,
    /// GBV figures.
    pub gbv: Gbv,
    /// Language of labels.
    pub lang: Lang,
}

pub(super) fn t(lang: Lang, vi: &str, en: &str) -> String {
    match lang {
        Lang::Vi => vi.to_string(),
        Lang::En => en.to_string(),
    }
}

/// The label of a missing value.
fn unrecorded(lang: Lang) -> String {
    t(lang, "Không ghi", "Not recorded")
}

/// The groups (villages or units) of a commune: key → name, in name order. A village's key is its
/// id in hex, a unit's its code.
pub(super) async fn groups(db: &Db, commune: CommuneId, by: GroupBy) -> sqlx::Result<Vec<(String, String)>> {
    let sql = match by {
        GroupBy::Village => "SELECT id, name FROM villages WHERE commune_id = $1 ORDER BY name",
        GroupBy::Unit => "SELECT code, name FROM units WHERE commune_id = $1 ORDER BY name",
    };
    let rows = sqlx::query(sql).bind(commune.as_bytes().as_slice()).fetch_all(&db.read).await?;
    Ok(rows.iter().map(|r| (group_key(r, by), r.get::<String, _>(1))).collect())
}

/// The group key in column 0 of a row.
fn group_key(r: &sqlx::any::AnyRow, by: GroupBy) -> String {
    match by {
        GroupBy::Village => r.get::<Option<Vec<u8>>, _>(0).map(|b| hex(&b)).unwrap_or_default(),
        GroupBy::Unit => r.get::<Option<String>, _>(0).unwrap_or_default(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SQL filter of a request on `record_facts`, aliased `f`: commune $1, kind $2, first and
/// last day $3 and $4.
pub(super) fn filter(approved_only: bool) -> &'static str {
    if approved_only {
        "f.commune_id = $1 AND f.kind = $2 AND f.deleted = FALSE AND f.event_date >= $3 AND f.event_date <= $4 AND f.review_state = 'approved'"
    } else {
        "f.commune_id = $1 AND f.kind = $2 AND f.deleted = FALSE AND f.event_date >= $3 AND f.event_date <= $4"
    }
}

/// One aggregated line of activities.
struct Line {
    group: String,
    activity_type: Option<String>,
    format: Option<String>,
    plan_item: Option<String>,
    count: u64,
    female: u64,
    male: u64,
    ethnic: u64,
}

fn n(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

async fn activity_lines(db: &Db, req: &Request) -> sqlx::Result<Vec<Line>> {
    let group = match req.by {
        GroupBy::Village => "f.village_id",
        GroupBy::Unit => "f.unit",
    };
    let sql = format!(
        "SELECT {group}, f.activity_type, f.format, f.plan_item, COUNT(*), CAST(SUM(f.female) AS BIGINT),
                CAST(SUM(f.male) AS BIGINT), CAST(SUM(f.ethnic_minority) AS BIGINT)
         FROM record_facts f WHERE {} GROUP BY {group}, f.activity_type, f.format, f.plan_item",
        filter(req.approved_only)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.commune.as_bytes().as_slice())
        .bind("activity")
        .bind(req.period.from.to_string())
        .bind(req.period.to.to_string())
        .fetch_all(&db.read)
        .await?;
    Ok(rows
        .iter()
        .map(|r| Line {
            group: group_key(r, req.by),
            activity_type: r.get(1),
            format: r.get(2),
            plan_item: r.get(3),
            count: r.get::<i64, _>(4) as u64,
            female: n(r.get(5)),
            male: n(r.get(6)),
            ethnic: n(r.get(7)),
        })
        .collect())
}

/// Builds the report.
pub async fn report(db: &Db, commune_name: &str, req: &Request) -> sqlx::Result<Report> {
    let lang = req.lang;
    // The scans run side by side, each on its own reader connection.
    let gbv = async { if req.gbv == Gbv::Hidden { Ok(Vec::new()) } else { gbv_tables(db, req).await } };
    let (groups, lines, topics, gbv) =
        tokio::try_join!(groups(db, req.commune, req.by), activity_lines(db, req), topics_table(db, req), gbv)?;
    let index: HashMap<&str, usize> = groups.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();
    // Records whose village or unit is not in the list (a unit code never registered, or none)
    // get a last row of their own.
    let other = groups.len();
    let row_of = |g: &str| index.get(g).copied().unwrap_or(other);
    let mut labels: Vec<String> = groups.iter().map(|(_, name)| name.clone()).collect();
    labels.push(unrecorded(lang));
    let group_heading = match req.by {
        GroupBy::Village => t(lang, "Thôn", "Village"),
        GroupBy::Unit => t(lang, "Đơn vị", "Unit"),
    };

    let mut by_type = vec![vec![0u64; ActivityType::ALL.len()]; labels.len()];
    let mut by_format = vec![vec![0u64; Format::ALL.len() + 1]; labels.len()];
    let mut people = vec![vec![0u64; 4]; labels.len()];
    let mut training = vec![vec![0u64; 4]; labels.len()];
    let mut plan = vec![vec![0u64; 4]; PlanItem::ALL.len() + 1];
    for l in &lines {
        let r = row_of(&l.group);
        let kind = l.activity_type.as_deref().and_then(ActivityType::from_code);
        if let Some(i) = kind.and_then(|k| ActivityType::ALL.iter().position(|&a| a == k)) {
            by_type[r][i] += l.count;
        }
        if kind == Some(ActivityType::Communication) {
            let f = l.format.as_deref().and_then(Format::from_code);
            let i = f.and_then(|f| Format::ALL.iter().position(|&a| a == f)).unwrap_or(Format::ALL.len());
            by_format[r][i] += l.count;
        }
        for (cell, v) in people[r].iter_mut().zip([l.female, l.male, l.female + l.male, l.ethnic]) {
            *cell += v;
        }
        if kind == Some(ActivityType::Training) {
            for (cell, v) in training[r].iter_mut().zip([l.count, l.female, l.male, l.female + l.male]) {
                *cell += v;
            }
        }
        let p = l.plan_item.as_deref().and_then(PlanItem::from_code);
        let i = p.and_then(|p| PlanItem::ALL.iter().position(|&a| a == p)).unwrap_or(PlanItem::ALL.len());
        for (cell, v) in plan[i].iter_mut().zip([l.count, l.female, l.male, l.female + l.male]) {
            *cell += v;
        }
    }
    let mut plan_labels: Vec<String> =
        PlanItem::ALL.iter().map(|p| format!("{}. {}", p.code(), p.label(lang))).collect();
    plan_labels.push(unrecorded(lang));
    let total = t(lang, "Tổng", "Total");
    let mut tables = vec![
        counts_table(
            "activities_by_type",
            t(lang, "Số hoạt động theo loại hình", "Activities by type"),
            &group_heading,
            ActivityType::ALL.iter().map(|a| a.label(lang).to_string()).chain([total.clone()]).collect(),
            &labels,
            with_row_totals(by_type),
            &total,
        ),
        counts_table(
            "communication_by_format",
            t(lang, "Buổi truyền thông theo hình thức", "Communication sessions by format"),
            &group_heading,
            Format::ALL.iter().map(|f| f.label(lang).to_string()).chain([unrecorded(lang), total.clone()]).collect(),
            &labels,
            with_row_totals(by_format),
            &total,
        ),
        counts_table(
            "participants",
            t(lang, "Số lượt người tham dự", "Participants"),
            &group_heading,
            vec![
                t(lang, "Nữ", "Female"),
                t(lang, "Nam", "Male"),
                total.clone(),
                t(lang, "Người dân tộc thiểu số", "Ethnic minority"),
            ],
            &labels,
            people,
            &total,
        ),
        counts_table(
            "trainings",
            t(lang, "Tập huấn, bồi dưỡng và học viên", "Trainings and trainees"),
            &group_heading,
            vec![
                t(lang, "Số lớp", "Trainings"),
                t(lang, "Học viên nữ", "Female trainees"),
                t(lang, "Học viên nam", "Male trainees"),
                t(lang, "Tổng học viên", "Trainees"),
            ],
            &labels,
            training,
            &total,
        ),
        counts_table(
            "plan_items",
            t(lang, "Kết quả theo nội dung kế hoạch", "By section of the plan"),
            &t(lang, "Nội dung kế hoạch", "Plan section"),
            vec![t(lang, "Số hoạt động", "Activities"), t(lang, "Nữ", "Female"), t(lang, "Nam", "Male"), total.clone()],
            &plan_labels,
            plan,
            &total,
        ),
        topics,
    ];
    tables.extend(gbv);
    Ok(Report {
        title: t(lang, "Báo cáo kết quả thực hiện công tác bình đẳng giới", "Gender equality work: results"),
        commune: commune_name.to_string(),
        period: req.period.label.clone(),
        generated_at: super::now_label(),
        tables,
    })
}

fn with_row_totals(mut rows: Vec<Vec<u64>>) -> Vec<Vec<u64>> {
    for r in &mut rows {
        let sum = r.iter().sum();
        r.push(sum);
    }
    rows
}

/// A table of counts with a total row; rows that are all zero and unlabelled ("not recorded")
/// are left out.
fn counts_table(
    key: &str,
    title: String,
    row_heading: &str,
    columns: Vec<String>,
    labels: &[String],
    counts: Vec<Vec<u64>>,
    total: &str,
) -> Table {
    let mut sums = vec![0u64; columns.len()];
    let last = labels.len() - 1;
    let mut rows = Vec::new();
    for (i, (label, cells)) in labels.iter().zip(counts).enumerate() {
        for (s, c) in sums.iter_mut().zip(&cells) {
            *s += c;
        }
        if i == last && cells.iter().all(|&c| c == 0) {
            continue;
        }
        rows.push(Row { label: label.clone(), cells: cells.into_iter().map(Cell::Count).collect() });
    }
    Table {
        key: key.into(),
        title,
        row_heading: row_heading.into(),
        columns,
        rows,
        totals: Some(Row { label: total.into(), cells: sums.into_iter().map(Cell::Count).collect() }),
    }
}

/// Counts (and a sum) per member of a set, from rows grouped by the set's mask: a handful of
/// distinct masks, expanded bit by bit here instead of summing a `CASE` per code in SQL.
fn per_member<T: Coded + PartialEq>(masks: &[(i64, u64, u64)]) -> Vec<(u64, u64)> {
    T::ALL
        .iter()
        .map(|&c| {
            let b = bit(c);
            masks.iter().filter(|(m, ..)| m & b != 0).fold((0, 0), |(n, v), (_, count, value)| (n + count, v + value))
        })
        .collect()
}

async fn topics_table(db: &Db, req: &Request) -> sqlx::Result<Table> {
    let lang = req.lang;
    let sql = format!(
        "SELECT f.topics, COUNT(*), CAST(SUM(COALESCE(f.female, 0) + COALESCE(f.male, 0)) AS BIGINT)
         FROM record_facts f WHERE {} GROUP BY f.topics",
        filter(req.approved_only)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(req.commune.as_bytes().as_slice())
        .bind("activity")
        .bind(req.period.from.to_string())
        .bind(req.period.to.to_string())
        .fetch_all(&db.read)
        .await?;
    let masks: Vec<(i64, u64, u64)> = rows.iter().map(|r| (r.get(0), r.get::<i64, _>(1) as u64, n(r.get(2)))).collect();
    let counts = per_member::<Topic>(&masks);
    Ok(Table {
        key: "topics".into(),
        title: t(lang, "Chủ đề đã truyền thông", "Topics covered"),
        row_heading: t(lang, "Chủ đề", "Topic"),
        columns: vec![t(lang, "Số hoạt động", "Activities"), t(lang, "Số lượt người tham dự", "Participants")],
        rows: Topic::ALL
            .iter()
            .zip(counts)
            .map(|(topic, (count, people))| Row {
                label: topic.label(lang).into(),
                cells: vec![Cell::Count(count), Cell::Count(people)],
            })
            .collect(),
        // An activity covers several topics: a total would count it several times.
        totals: None,
    })
}

/// Counts of GBV referrals in the period, by a column of the projection and the age group.
async fn gbv_tables(db: &Db, req: &Request) -> sqlx::Result<Vec<Table>> {
    let lang = req.lang;
    let bind = |sql: String| {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(req.commune.as_bytes().as_slice())
            .bind("gbv_referral")
            .bind(req.period.from.to_string())
            .bind(req.period.to.to_string())
    };
    let f = filter(req.approved_only);
    let cases = bind(format!(
        "SELECT f.age_group, f.survivor_sex, f.setting, f.case_status, COUNT(*) FROM record_facts f WHERE {f}
         GROUP BY f.age_group, f.survivor_sex, f.setting, f.case_status"
    ))
    .fetch_all(&db.read)
    .await?;
    let masks = bind(format!(
        "SELECT f.violence_types, f.referred_to, COUNT(*) FROM record_facts f WHERE {f}
         GROUP BY f.violence_types, f.referred_to"
    ))
    .fetch_all(&db.read)
    .await?;
    let violence: Vec<(i64, u64, u64)> = masks.iter().map(|r| (r.get(0), r.get::<i64, _>(2) as u64, 0)).collect();
    let services: Vec<(i64, u64, u64)> = masks.iter().map(|r| (r.get(1), r.get::<i64, _>(2) as u64, 0)).collect();
    let pos =
        |all: &[&'static str], v: Option<String>| v.and_then(|v| all.iter().position(|c| *c == v)).unwrap_or(all.len());
    let codes = |all: &[&'static str]| all.to_vec();
    let ages: Vec<&str> = AgeGroup::ALL.iter().map(|a| a.code()).collect();
    let sexes: Vec<&str> = Sex::ALL.iter().map(|a| a.code()).collect();
    let settings: Vec<&str> = Setting::ALL.iter().map(|a| a.code()).collect();
    let statuses: Vec<&str> = CaseStatus::ALL.iter().map(|a| a.code()).collect();
    let mut age_sex = vec![vec![0u64; sexes.len() + 1]; ages.len() + 1];
    let mut by_setting = vec![vec![0u64; 1]; settings.len() + 1];
    let mut by_status = vec![vec![0u64; 1]; statuses.len() + 1];
    for r in &cases {
        let count = r.get::<i64, _>(4) as u64;
        age_sex[pos(&codes(&ages), r.get(0))][pos(&codes(&sexes), r.get(1))] += count;
        by_setting[pos(&codes(&settings), r.get(2))][0] += count;
        by_status[pos(&codes(&statuses), r.get(3))][0] += count;
    }
    let member_counts: BTreeMap<(&str, &str), u64> = ViolenceType::ALL
        .iter()
        .map(|v| ("violence_types", v.code()))
        .zip(per_member::<ViolenceType>(&violence))
        .chain(Service::ALL.iter().map(|s| ("referred_to", s.code())).zip(per_member::<Service>(&services)))
        .map(|(key, (count, _))| (key, count))
        .collect();
    let with_unrecorded = |labels: Vec<String>| labels.into_iter().chain([unrecorded(lang)]).collect::<Vec<_>>();
    let cases_col = t(lang, "Số vụ việc", "Cases");
    let total = t(lang, "Tổng", "Total");
    let gbv = req.gbv;
    let mut tables = vec![
        gbv_table(
            "gbv_by_age_and_sex",
            t(
                lang,
                "Vụ việc bạo lực giới được chuyển gửi, theo nhóm tuổi và giới tính nạn nhân",
                "GBV referrals by survivor age group and sex",
            ),
            t(lang, "Nhóm tuổi", "Age group"),
            with_unrecorded(Sex::ALL.iter().map(|s| s.label(lang).to_string()).collect()),
            with_unrecorded(AgeGroup::ALL.iter().map(|a| a.label(lang).to_string()).collect()),
            age_sex,
            &total,
            gbv,
        ),
        gbv_table(
            "gbv_by_setting",
            t(lang, "Vụ việc theo nơi xảy ra", "GBV referrals by setting"),
            t(lang, "Nơi xảy ra", "Setting"),
            vec![cases_col.clone()],
            with_unrecorded(Setting::ALL.iter().map(|a| a.label(lang).to_string()).collect()),
            by_setting,
            &total,
            gbv,
        ),
        gbv_table(
            "gbv_by_case_status",
            t(lang, "Vụ việc theo tình trạng xử lý", "GBV referrals by case status"),
            t(lang, "Tình trạng", "Status"),
            vec![cases_col.clone()],
            with_unrecorded(CaseStatus::ALL.iter().map(|a| a.label(lang).to_string()).collect()),
            by_status,
            &total,
            gbv,
        ),
    ];
    for (field, key, title, heading, all) in [
        (
            "violence_types",
            "gbv_by_violence_type",
            t(lang, "Vụ việc theo hình thức bạo lực", "GBV referrals by type of violence"),
            t(lang, "Hình thức bạo lực", "Type of violence"),
            ViolenceType::ALL.iter().map(|v| (v.code(), v.label(lang))).collect::<Vec<_>>(),
        ),
        (
            "referred_to",
            "gbv_by_service",
            t(lang, "Vụ việc theo dịch vụ được chuyển gửi", "GBV referrals by service referred to"),
            t(lang, "Dịch vụ", "Service"),
            Service::ALL.iter().map(|v| (v.code(), v.label(lang))).collect::<Vec<_>>(),
        ),
    ] {
        // A case may have several types and services: no total (it would count a case twice),
        // so only the small cells themselves are hidden.
        let rows = all
            .iter()
            .map(|(code, label)| {
                let c = member_counts.get(&(field, *code)).copied().unwrap_or(0);
                let cell =
                    if gbv == Gbv::Suppressed && (1..=4).contains(&c) { Cell::Suppressed } else { Cell::Count(c) };
                Row { label: label.to_string(), cells: vec![cell] }
            })
            .collect();
        tables.push(Table {
            key: key.into(),
            title,
            row_heading: heading,
            columns: vec![cases_col.clone()],
            rows,
            totals: None,
        });
    }
    Ok(tables)
}

/// A GBV table with a total row (and, with several columns, a total column), suppressed unless
/// exact figures are allowed. A trailing "not recorded" row or column that is all zero is left
/// out before suppression, so the published shape is what suppression protected.
#[allow(clippy::too_many_arguments)]
fn gbv_table(
    key: &str,
    title: String,
    row_heading: String,
    mut columns: Vec<String>,
    mut labels: Vec<String>,
    mut counts: Vec<Vec<u64>>,
    total: &str,
    gbv: Gbv,
) -> Table {
    if counts.last().is_some_and(|r| r.iter().all(|&c| c == 0)) {
        counts.pop();
        labels.pop();
    }
    if columns.len() > 1 && counts.iter().all(|r| r.last() == Some(&0)) {
        columns.pop();
        for r in &mut counts {
            r.pop();
        }
    }
    let wide = columns.len() > 1;
    let mut table = Table::new(key, title, row_heading, columns);
    for (label, r) in labels.into_iter().zip(counts) {
        table.push_counts(label, r);
    }
    if wide {
        table.add_row_totals(total);
    }
    table.add_totals(total);
    if gbv == Gbv::Suppressed {
        suppress::suppress_table(&mut table, wide).expect("a table of counts with exact totals");
    }
    table
}

/// The deadline of a period: the commune's day (`MM-DD`) in the year the period ends.
pub(super) fn deadline(day: &str, period_end: Date) -> Option<Date> {
    let (m, d) = day.split_once('-')?;
    Date::new(period_end.year, m.parse().ok()?, d.parse().ok()?)
}
