//! The dashboard (`GET /`): a year's activities, participants by sex, trainings and GBV referrals,
//! per village and per month, with the Action Month highlighted and two charts drawn on the
//! server. Figures come from `reports::dashboard`; who sees the dashboard, and its GBV referrals
//! exact (per month) or suppressed (only a year's total, small numbers hidden), is
//! `policy::aggregates` with [`Want::Dashboard`].

use super::chart::{Group, Series, bars};
use super::session::Session;
use super::{WebError, html};
use crate::policy::{self, Aggregate, Want};
use crate::reports::dashboard::{Dashboard, Figures, dashboard};
use crate::reports::suppress::is_small;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sotay_sync_core::{Lang, RecordKind, Role};

/// The query of the dashboard.
#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    year: Option<u16>,
}

/// One row of a figures table.
struct Line {
    label: String,
    f: Figures,
    highlight: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    p: super::Page,
    year: u16,
    years: Vec<u16>,
    total: Figures,
    villages: Vec<Line>,
    months: Vec<Line>,
    gbv_total: String,
    gbv_months: Vec<(String, i64, bool)>,
    gbv_exact: bool,
    village_chart: String,
    month_chart: String,
}

/// The month names of the charts and tables.
pub fn month_name(month: usize, lang: Lang) -> String {
    const EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    match lang {
        Lang::Vi => format!("T{month}"),
        Lang::En => EN.get(month.wrapping_sub(1)).copied().unwrap_or("?").to_string(),
    }
}

/// The Action Month (15 November to 15 December) falls in these months.
fn in_action_month(month: usize) -> bool {
    month == 11 || month == 12
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, WebError> {
    let role = session.auth.role;
    if !policy::may_aggregate(role, Want::Dashboard) {
        // Home is elsewhere: collaborators work on their village's records; administrators on
        // accounts.
        let home = if role == Role::Admin { "/admin" } else { "/records" };
        return Ok(Redirect::to(home).into_response());
    }
    let lang = session.lang;
    let t = session.page("", "/").t;
    let this_year = crate::reports::today().year;
    let year = q.year.filter(|y| (2000..=this_year + 1).contains(y)).unwrap_or(this_year);
    let d: Dashboard =
        dashboard(&state.db, session.auth.commune, year).await.map_err(|e| WebError::Api(e.into(), lang))?;
    // The dashboard writes no audit row: figures the policy would audit are shown suppressed.
    let exact = policy::aggregates(role, RecordKind::GbvReferral, Want::Dashboard) == Aggregate::Exact;
    let gbv_total = match d.gbv_total() {
        n if !exact && is_small(n as u64) => "<5".to_string(),
        n => n.to_string(),
    };
    let months: Vec<Line> = d
        .months
        .iter()
        .enumerate()
        .map(|(i, f)| Line { label: month_name(i + 1, lang), f: *f, highlight: in_action_month(i + 1) })
        .collect();
    let villages: Vec<Line> =
        d.villages.iter().map(|(_, name, f)| Line { label: name.clone(), f: *f, highlight: false }).collect();
    let sexes =
        || vec![Series { name: t.female.into(), class: "female" }, Series { name: t.male.into(), class: "male" }];
    let village_chart = bars(
        t.chart_participants,
        &sexes(),
        &villages
            .iter()
            .map(|l| Group { label: l.label.clone(), values: vec![l.f.female, l.f.male], highlight: false })
            .collect::<Vec<_>>(),
    );
    let month_chart = bars(
        t.chart_activities,
        &[Series { name: t.activities_held.into(), class: "count" }],
        &months
            .iter()
            .map(|l| Group { label: l.label.clone(), values: vec![l.f.activities], highlight: l.highlight })
            .collect::<Vec<_>>(),
    );
    let gbv_months =
        d.gbv_months.iter().enumerate().map(|(i, n)| (month_name(i + 1, lang), *n, in_action_month(i + 1))).collect();
    let page = DashboardPage {
        p: session.page(format!("{} {year}", t.dashboard), &format!("/?year={year}")),
        year,
        years: (this_year.saturating_sub(4)..=this_year).rev().collect(),
        total: d.total,
        villages,
        months,
        gbv_total,
        gbv_months,
        gbv_exact: exact,
        village_chart,
        month_chart,
    };
    Ok(html(&page))
}
