//! The independent count of the report cross-check: every table of the report ([`expected`]), the
//! completeness tables ([`completeness`]) and the suspected duplicates ([`suspected_duplicates`]),
//! computed from the server's record documents (their views) by the rules of docs/reports.md,
//! without the report projection, its SQL or the report builder. Only the choice of which further
//! GBV cells hide a small one is suppress.rs's (whose safety its own property test checks).

use crate::reports_commune::{Commune, Period, day};
use sotay_sync_core::schema::*;
use sotay_sync_core::{Date, RecordId, RecordView, ReviewState};
use std::collections::BTreeSet;

/// What a report is asked for.
pub struct Ask<'a> {
    pub period: &'a Period,
    pub approved_only: bool,
    pub by_unit: bool,
    pub lang: Lang,
}

/// How a table's figures reach a reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Activity figures, as they are, one row per village or unit (in the database's name order).
    Groups,
    /// Activity figures, as they are, rows in the schema's order.
    Fixed,
    /// GBV counts with a total row (and a total column when `wide`): suppressed as suppress.rs
    /// decides for these counts (its safety is suppress.rs's property test).
    GbvTotals { wide: bool },
    /// GBV counts without totals (a case may be in several rows): each count 1–4 hidden.
    GbvList,
}

/// A table as the independent count says it must be.
#[derive(Debug)]
pub struct Expected {
    pub key: &'static str,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<u64>)>,
    pub totals: Option<(String, Vec<u64>)>,
    pub kind: Kind,
}

/// Rows of cells as text: numbers, "<5", or the text of a completeness status.
pub type TextRows = Vec<(String, Vec<String>)>;

impl Expected {
    /// The rows and the total row as published: exact (a focal point), or as a reviewer sees them.
    pub fn published(&self, suppressed: bool) -> (TextRows, Option<(String, Vec<String>)>) {
        let text = |n: u64, hidden: bool| if hidden { "<5".to_string() } else { n.to_string() };
        let rows = |hide: &dyn Fn(usize, usize, u64) -> bool| -> TextRows {
            let rows = self.rows.iter().enumerate();
            rows.map(|(i, (l, cells))| {
                (l.clone(), cells.iter().enumerate().map(|(j, &n)| text(n, hide(i, j, n))).collect())
            })
            .collect()
        };
        let totals = |hide: &dyn Fn(usize, u64) -> bool| {
            self.totals
                .as_ref()
                .map(|(l, cells)| (l.clone(), cells.iter().enumerate().map(|(j, &n)| text(n, hide(j, n))).collect()))
        };
        match (suppressed, self.kind) {
            (true, Kind::GbvList) => (rows(&|_, _, n| (1..=4).contains(&n)), totals(&|_, n| (1..=4).contains(&n))),
            (true, Kind::GbvTotals { wide }) => {
                let width = self.columns.len() - usize::from(wide);
                let counts: Vec<Vec<u64>> = self.rows.iter().map(|(_, c)| c[..width].to_vec()).collect();
                let s = sotay_server::reports::suppress::suppress(&counts);
                (
                    rows(&|i, j, _| if j < width { s.cells[i][j] } else { s.row_totals[i] }),
                    totals(&|j, _| if j < width { s.column_totals[j] } else { s.grand_total }),
                )
            }
            _ => (rows(&|_, _, _| false), totals(&|_, _| false)),
        }
    }
}

fn in_period(d: Option<Date>, p: &Period) -> bool {
    d.is_some_and(|d| d >= p.from && d <= p.to)
}

fn female(v: &RecordView) -> u64 {
    v.attendance_female.unwrap_or(0).max(0) as u64
}

fn male(v: &RecordView) -> u64 {
    v.attendance_male.unwrap_or(0).max(0) as u64
}

fn position<T: Coded + PartialEq>(v: Option<T>) -> usize {
    v.and_then(|v| T::ALL.iter().position(|&c| c == v)).unwrap_or(T::ALL.len())
}

/// Every table of the report, counted from the record views: an activity counts on the day it was
/// held, a referral on the day it was reported, deleted records never, with `approved_only` only
/// approved ones; a record in conflict with the value its view shows.
pub fn expected(views: &[RecordView], c: &Commune, ask: &Ask) -> Vec<Expected> {
    let lang = ask.lang;
    let t = |vi: &str, en: &str| if lang == Lang::Vi { vi.to_string() } else { en.to_string() };
    let (unrecorded, total) = (t("Không ghi", "Not recorded"), t("Tổng", "Total"));
    let counted = |v: &&RecordView, kind, date| {
        v.commune == c.commune
            && v.kind == kind
            && !v.deleted
            && in_period(date, ask.period)
            && (!ask.approved_only || v.review_state == ReviewState::Approved)
    };
    let acts: Vec<&RecordView> = views.iter().filter(|v| counted(v, RecordKind::Activity, v.held_on)).collect();
    let cases: Vec<&RecordView> = views.iter().filter(|v| counted(v, RecordKind::GbvReferral, v.reported_on)).collect();

    // Rows of the activity tables: the villages or units, and the records of neither.
    let mut labels: Vec<String> = if ask.by_unit {
        c.units.iter().map(|(_, name)| name.clone()).collect()
    } else {
        c.villages.iter().map(|(_, name)| name.clone()).collect()
    };
    let group = |v: &RecordView| {
        if ask.by_unit {
            c.units.iter().position(|(code, _)| v.unit.as_deref() == Some(code.as_str())).unwrap_or(c.units.len())
        } else {
            c.villages.iter().position(|(id, _)| *id == v.village).unwrap_or(c.villages.len())
        }
    };
    labels.push(unrecorded.clone());
    // A cell: the sum of `value` over the activities of row `g` (every row for the total) with `pred`.
    let sum = |g: Option<usize>, pred: &dyn Fn(&RecordView) -> bool, value: &dyn Fn(&RecordView) -> u64| -> u64 {
        acts.iter().filter(|v| g.is_none_or(|g| group(v) == g) && pred(v)).map(|v| value(v)).sum()
    };
    let one = |_: &RecordView| 1;
    let people = |v: &RecordView| female(v) + male(v);
    let any = |_: &RecordView| true;
    // A table whose last row ("not recorded") is shown only when not empty; its total row counts
    // every record afresh rather than adding up the rows.
    let table = |key, columns: Vec<String>, labels: &[String], kind, cell: &dyn Fn(Option<usize>, usize) -> u64| {
        let width = columns.len();
        let mut rows: Vec<(String, Vec<u64>)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), (0..width).map(|j| cell(Some(i), j)).collect()))
            .collect();
        if rows.last().is_some_and(|(_, cells)| cells.iter().all(|&n| n == 0)) {
            rows.pop();
        }
        let totals = Some((total.clone(), (0..width).map(|j| cell(None, j)).collect()));
        Expected { key, columns, rows, totals, kind }
    };
    let types = ActivityType::ALL;
    let is = |k: ActivityType| move |v: &RecordView| v.activity_type == Some(k);
    let mut tables = vec![
        table(
            "activities_by_type",
            types.iter().map(|k| k.label(lang).to_string()).chain([total.clone()]).collect(),
            &labels,
            Kind::Groups,
            &|g, j| match types.get(j) {
                Some(&k) => sum(g, &is(k), &one),
                None => sum(g, &|v| v.activity_type.is_some(), &one),
            },
        ),
        table(
            "communication_by_format",
            Format::ALL.iter().map(|f| f.label(lang).to_string()).chain([unrecorded.clone(), total.clone()]).collect(),
            &labels,
            Kind::Groups,
            &|g, j| {
                let session = is(ActivityType::Communication);
                match j.cmp(&Format::ALL.len()) {
                    std::cmp::Ordering::Less => sum(g, &|v| session(v) && v.format == Some(Format::ALL[j]), &one),
                    std::cmp::Ordering::Equal => sum(g, &|v| session(v) && v.format.is_none(), &one),
                    std::cmp::Ordering::Greater => sum(g, &session, &one),
                }
            },
        ),
        table(
            "participants",
            vec![t("Nữ", "Female"), t("Nam", "Male"), total.clone(), t("Người dân tộc thiểu số", "Ethnic minority")],
            &labels,
            Kind::Groups,
            &|g, j| match j {
                0 => sum(g, &any, &female),
                1 => sum(g, &any, &male),
                2 => sum(g, &any, &people),
                _ => sum(g, &any, &|v| v.attendance_ethnic_minority.unwrap_or(0).max(0) as u64),
            },
        ),
        table(
            "trainings",
            vec![
                t("Số lớp", "Trainings"),
                t("Học viên nữ", "Female trainees"),
                t("Học viên nam", "Male trainees"),
                t("Tổng học viên", "Trainees"),
            ],
            &labels,
            Kind::Groups,
            &|g, j| {
                sum(g, &is(ActivityType::Training), [&one as &dyn Fn(&RecordView) -> u64, &female, &male, &people][j])
            },
        ),
    ];
    let plan_labels: Vec<String> =
        PlanItem::ALL.iter().map(|p| format!("{}. {}", p.code(), p.label(lang))).chain([unrecorded.clone()]).collect();
    tables.push(table(
        "plan_items",
        vec![t("Số hoạt động", "Activities"), t("Nữ", "Female"), t("Nam", "Male"), total.clone()],
        &plan_labels,
        Kind::Fixed,
        &|p, j| {
            let section = |v: &RecordView| p.is_none_or(|p| position(v.plan_item) == p);
            sum(None, &section, [&one as &dyn Fn(&RecordView) -> u64, &female, &male, &people][j])
        },
    ));
    tables.push(Expected {
        key: "topics",
        columns: vec![t("Số hoạt động", "Activities"), t("Số lượt người tham dự", "Participants")],
        rows: Topic::ALL
            .iter()
            .map(|topic| {
                let covers = |v: &RecordView| v.topics.contains(topic);
                (topic.label(lang).to_string(), vec![sum(None, &covers, &one), sum(None, &covers, &people)])
            })
            .collect(),
        totals: None,
        kind: Kind::Fixed,
    });

    // GBV: cases by age group and sex (rows and columns "not recorded" only when not empty).
    let count = |pred: &dyn Fn(&RecordView) -> bool| cases.iter().filter(|v| pred(v)).count() as u64;
    let ages = AgeGroup::ALL.len() + usize::from(count(&|v| v.survivor_age_group.is_none()) > 0);
    let sexes = Sex::ALL.len() + usize::from(count(&|v| v.survivor_sex.is_none()) > 0);
    let age_sex = |a: Option<usize>, s: Option<usize>| {
        count(&|v| {
            a.is_none_or(|a| position(v.survivor_age_group) == a) && s.is_none_or(|s| position(v.survivor_sex) == s)
        })
    };
    let label_or_unrecorded = |labels: Vec<&str>, n: usize| -> Vec<String> {
        labels.into_iter().map(String::from).chain([unrecorded.clone()]).take(n).collect()
    };
    let mut columns = label_or_unrecorded(Sex::ALL.iter().map(|s| s.label(lang)).collect(), sexes);
    columns.push(total.clone());
    let cell = |a: Option<usize>, j: usize| age_sex(a, (j < sexes).then_some(j));
    tables.push(Expected {
        key: "gbv_by_age_and_sex",
        columns,
        rows: label_or_unrecorded(AgeGroup::ALL.iter().map(|a| a.label(lang)).collect(), ages)
            .into_iter()
            .enumerate()
            .map(|(i, label)| (label, (0..=sexes).map(|j| cell(Some(i), j)).collect()))
            .collect(),
        totals: Some((total.clone(), (0..=sexes).map(|j| cell(None, j)).collect())),
        kind: Kind::GbvTotals { wide: true },
    });
    let cases_column = vec![t("Số vụ việc", "Cases")];
    let one_column = |key, labels: Vec<&str>, of: &dyn Fn(&RecordView) -> usize| {
        let n = labels.len() + usize::from(count(&|v| of(v) == labels.len()) > 0);
        Expected {
            key,
            columns: cases_column.clone(),
            rows: label_or_unrecorded(labels, n)
                .into_iter()
                .enumerate()
                .map(|(i, label)| (label, vec![count(&|v| of(v) == i)]))
                .collect(),
            totals: Some((total.clone(), vec![cases.len() as u64])),
            kind: Kind::GbvTotals { wide: false },
        }
    };
    tables.push(one_column("gbv_by_setting", Setting::ALL.iter().map(|s| s.label(lang)).collect(), &|v| {
        position(v.setting)
    }));
    tables.push(one_column("gbv_by_case_status", CaseStatus::ALL.iter().map(|s| s.label(lang)).collect(), &|v| {
        position(v.case_status)
    }));
    // Violence types and services: a case in every row it names; no totals.
    tables.push(Expected {
        key: "gbv_by_violence_type",
        columns: cases_column.clone(),
        rows: ViolenceType::ALL
            .iter()
            .map(|k| (k.label(lang).to_string(), vec![count(&|v| v.violence_types.contains(k))]))
            .collect(),
        totals: None,
        kind: Kind::GbvList,
    });
    tables.push(Expected {
        key: "gbv_by_service",
        columns: cases_column,
        rows: Service::ALL
            .iter()
            .map(|s| (s.label(lang).to_string(), vec![count(&|v| v.referred_to.contains(s))]))
            .collect(),
        totals: None,
        kind: Kind::GbvList,
    });
    tables
}

/// Rows of a completeness table: label and cells, `None` for a cell the count cannot know.
pub type CompletenessRows = Vec<(String, Vec<Option<String>>)>;

/// The completeness tables (by village, by unit): activities held in the period, how many the
/// server had by the deadline (25 November of the period's last year, end of the day in Vietnam:
/// `None` when the records were stored on both sides of it), how many are approved, and the status.
pub fn completeness(views: &[RecordView], c: &Commune, p: &Period, now_ms: i64) -> [CompletenessRows; 2] {
    let deadline = (day(p.to.year, 11, 25).days_since_epoch() + 1) * 86_400_000 - 7 * 3_600_000 - 1;
    let (first, last) = c.stored_between;
    let acts: Vec<&RecordView> = views
        .iter()
        .filter(|v| v.commune == c.commune && v.kind == RecordKind::Activity && !v.deleted && in_period(v.held_on, p))
        .collect();
    let row = |name: &str, mine: &dyn Fn(&RecordView) -> bool| {
        let count = acts.iter().filter(|v| mine(v)).count();
        let approved = acts.iter().filter(|v| mine(v) && v.review_state == ReviewState::Approved).count();
        let on_time = if last <= deadline { Some(count) } else { (first > deadline).then_some(0) };
        let status = on_time.map(|on_time| {
            if on_time > 0 {
                "Đã báo cáo đúng hạn"
            } else if count > 0 {
                "Báo cáo muộn"
            } else if now_ms > deadline {
                "Chưa báo cáo (quá hạn)"
            } else {
                "Chưa báo cáo"
            }
        });
        let cells = vec![Some(count.to_string()), on_time.map(|n| n.to_string()), Some(approved.to_string())];
        (name.to_string(), cells.into_iter().chain([status.map(String::from)]).collect())
    };
    [
        c.villages.iter().map(|(id, name)| row(name, &|v| v.village == *id)).collect(),
        c.units.iter().map(|(code, name)| row(name, &|v| v.unit.as_deref() == Some(code.as_str()))).collect(),
    ]
}

/// The pairs of the duplicates rule (docs/reports.md) among the records as they are: activities of
/// the commune and one village, neither deleted, held the same day, of the same type, whose attendance totals
/// differ by at most max(2, a tenth of the larger, rounded down).
pub fn suspected_duplicates(views: &[RecordView], c: &Commune) -> BTreeSet<(RecordId, RecordId)> {
    let acts: Vec<&RecordView> =
        views.iter().filter(|v| v.commune == c.commune && v.kind == RecordKind::Activity && !v.deleted).collect();
    let mut pairs = BTreeSet::new();
    for a in &acts {
        for b in &acts {
            let (ta, tb) = (female(a) + male(a), female(b) + male(b));
            if a.id < b.id
                && a.village == b.village
                && a.held_on.is_some()
                && a.held_on == b.held_on
                && a.activity_type.is_some()
                && a.activity_type == b.activity_type
                && ta.abs_diff(tb) <= (ta.max(tb) / 10).max(2)
            {
                pairs.insert((a.id, b.id));
            }
        }
    }
    pairs
}
