//! The reports screen (`GET /reports`): a period picker (month, quarter, year, the Action Month,
//! a range of days), the plan-shaped tables, completeness against the commune's deadline, and the
//! XLSX and CSV downloads (`GET /reports/export`). It asks the API's report handlers with the
//! session's device, so who may have which report, and its GBV figures suppressed, exact or exact
//! and audited, is `policy::aggregates` exactly as through the API (the downloads here never ask
//! for `exact`, so their GBV figures are suppressed, for focal points too).

use super::session::Session;
use super::{Page, WebError, html, url_encode};
use crate::api::reports::{self as api_reports, ReportQuery};
use crate::reports::period::PeriodQuery;
use crate::reports::table::{Cell, Table};
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use sotay_sync_core::Lang;

/// The picker's fields, as the form sends them.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct PickerQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    approved_only: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    format: String,
}

fn some(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

impl PickerQuery {
    /// The picker with its defaults filled in: this year's Action Month.
    fn or_default(mut self) -> PickerQuery {
        if self.period.is_empty() {
            self.period = "action_month".into();
        }
        if self.year.is_empty() {
            self.year = crate::reports::today().year.to_string();
        }
        self
    }

    /// The API's query for the period chosen.
    fn api(&self, lang: Lang) -> ReportQuery {
        let mut period = PeriodQuery::default();
        match self.period.as_str() {
            "month" => period.month = some(&self.month),
            "quarter" => period.quarter = some(&self.quarter),
            "year" => period.year = some(&self.year),
            "range" => (period.from, period.to) = (some(&self.from), some(&self.to)),
            _ => period.action_month = some(&self.year),
        }
        ReportQuery {
            period,
            approved_only: some(&self.approved_only).map(|_| "true".into()),
            by: some(&self.by),
            lang: Some(lang.code().into()),
            format: some(&self.format),
            exact: None,
        }
    }

    /// The query string that asks for the same report.
    fn query_string(&self) -> String {
        [
            ("period", &self.period),
            ("month", &self.month),
            ("quarter", &self.quarter),
            ("year", &self.year),
            ("from", &self.from),
            ("to", &self.to),
            ("approved_only", &self.approved_only),
            ("by", &self.by),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// A cell as the page shows it.
fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Count(n) => n.to_string(),
        Cell::Suppressed => crate::reports::table::SUPPRESSED_TEXT.to_string(),
        Cell::Text(t) => t.clone(),
    }
}

/// A table ready for the template.
struct Shown {
    key: String,
    title: String,
    row_heading: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
    totals: Option<(String, Vec<String>)>,
}

fn shown(t: Table) -> Shown {
    let row = |r: crate::reports::table::Row| (r.label, r.cells.iter().map(cell_text).collect());
    Shown {
        key: t.key,
        title: t.title,
        row_heading: t.row_heading,
        columns: t.columns,
        rows: t.rows.into_iter().map(row).collect(),
        totals: t.totals.map(row),
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    p: Page,
    q: PickerQuery,
    periods: Vec<(&'static str, &'static str)>,
    subtitle: String,
    tables: Vec<Shown>,
    completeness: Vec<Shown>,
    download: String,
}

/// `GET /reports`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<PickerQuery>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let fail = |e| WebError::Api(e, lang);
    let q = q.or_default();
    let Json(report) =
        api_reports::report(State(state.clone()), session.auth, Ok(Query(q.api(lang)))).await.map_err(fail)?;
    let Json(completeness) =
        api_reports::completeness(State(state), session.auth, Ok(Query(q.api(lang)))).await.map_err(fail)?;
    let vi = lang == Lang::Vi;
    let periods = vec![
        ("action_month", if vi { "Tháng hành động" } else { "Action Month" }),
        ("month", if vi { "Tháng" } else { "Month" }),
        ("quarter", if vi { "Quý" } else { "Quarter" }),
        ("year", if vi { "Năm" } else { "Year" }),
        ("range", if vi { "Khoảng thời gian" } else { "Date range" }),
    ];
    let query = q.query_string();
    let page = ReportsPage {
        p: session.page(report.title.clone(), &format!("/reports?{query}")),
        subtitle: format!("{} · {} · {}", report.commune, report.period, report.generated_at),
        tables: report.tables.into_iter().map(shown).collect(),
        completeness: completeness.into_iter().map(shown).collect(),
        download: format!("/reports/export?{query}"),
        periods,
        q,
    };
    Ok(html(&page))
}

/// `GET /reports/export`: the same report as a file (`format=xlsx` or `csv`).
pub async fn export(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<PickerQuery>,
) -> Result<Response, WebError> {
    let q = q.or_default();
    api_reports::export(State(state), session.auth, Ok(Query(q.api(session.lang))))
        .await
        .map_err(|e| WebError::Api(e, session.lang))
}
