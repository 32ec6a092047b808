//! `GET /api/v1/reports`, `/api/v1/reports/completeness`, `/api/v1/reports/export` and the
//! commune's villages and units: the HTTP edge of `crate::reports` (query validation, audit of
//! exact GBV figures, download headers). Who gets which report, and its GBV figures suppressed,
//! exact or exact and audited, is `crate::policy::aggregates`. The reports themselves know
//! nothing of HTTP.

use crate::admin;
use crate::api_doc::answer;
use crate::auth::AuthDevice;
use crate::error::ApiError;
use crate::policy::{self, Aggregate, Want};
use crate::reports::build::{self, Gbv, GroupBy};
use crate::reports::period::{Period, PeriodQuery};
use crate::reports::table::{Report, Table};
use crate::reports::{completeness, export};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sotay_sync_core::{Lang, RecordKind, VillageId};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

/// Query of the report endpoints: one period (see [`PeriodQuery`]) and options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The period.
    #[serde(flatten)]
    #[param(ignore)]
    pub period: PeriodQuery,
    /// `true`: only approved records count (default `false`: every record not deleted).
    #[param(value_type = Option<bool>, default = false)]
    pub approved_only: Option<String>,
    /// `village` (default) or `unit`: the rows of the activity tables.
    #[param(schema_with = by_schema)]
    pub by: Option<String>,
    /// `vi` (default) or `en`.
    #[param(value_type = Option<Lang>, default = "vi")]
    pub lang: Option<String>,
    /// Export only: `xlsx` (default) or `csv`.
    #[param(schema_with = format_schema)]
    pub format: Option<String>,
    /// Export only, GBV focal points only: `true` for exact GBV figures (audited).
    #[param(value_type = Option<bool>, default = false)]
    pub exact: Option<String>,
}

/// A string parameter with these values, the first the default.
fn one_of(values: [&str; 2], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .default(Some(values[0].into()))
        .description(Some(description))
        .build()
}

fn by_schema() -> Object {
    one_of(["village", "unit"], "the rows of the activity tables")
}

fn format_schema() -> Object {
    one_of(["xlsx", "csv"], "export only: the file's format")
}

/// What a report query asks for, checked.
struct Asked {
    period: Period,
    approved_only: bool,
    by: GroupBy,
    lang: Lang,
}

fn flag(name: &str, v: &Option<String>) -> Result<bool, ApiError> {
    match v.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!("{name} must be true or false, not {other:?}"))),
    }
}

fn read(q: Result<Query<ReportQuery>, QueryRejection>) -> Result<(ReportQuery, Asked), ApiError> {
    let Query(q) = q.map_err(|r| ApiError::BadRequest(r.body_text()))?;
    let period = Period::parse(&q.period).map_err(ApiError::BadRequest)?;
    let by = match q.by.as_deref() {
        None | Some("village") => GroupBy::Village,
        Some("unit") => GroupBy::Unit,
        Some(other) => return Err(ApiError::BadRequest(format!("by must be village or unit, not {other:?}"))),
    };
    let lang = match q.lang.as_deref() {
        None | Some("vi") => Lang::Vi,
        Some("en") => Lang::En,
        Some(other) => return Err(ApiError::BadRequest(format!("lang must be vi or en, not {other:?}"))),
    };
    let approved_only = flag("approved_only", &q.approved_only)?;
    Ok((q, Asked { period, approved_only, by, lang }))
}

/// Refuses (403) a caller whose role may not have `want` at all, before its query is read.
pub(crate) fn allow(auth: &AuthDevice, want: Want) -> Result<(), ApiError> {
    if policy::may_aggregate(auth.role, want) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("your role may not do this".into()))
    }
}

/// How the caller gets the GBV figures of `want`, and whether that is audited; refused (403)
/// when the policy hides them.
fn gbv_figures(auth: &AuthDevice, want: Want) -> Result<(Gbv, bool), ApiError> {
    match policy::aggregates(auth.role, RecordKind::GbvReferral, want) {
        Aggregate::Hidden if want == (Want::Export { exact: true }) => {
            Err(ApiError::Forbidden("your role may not export exact GBV figures".into()))
        }
        Aggregate::Hidden => Err(ApiError::Forbidden("your role may not have these GBV figures".into())),
        Aggregate::Suppressed => Ok((Gbv::Suppressed, false)),
        Aggregate::Exact => Ok((Gbv::Exact, false)),
        Aggregate::ExactAudited => Ok((Gbv::Exact, true)),
    }
}

/// Builds the report for the caller (the caller audits exact GBV figures).
async fn build_for(state: &AppState, auth: &AuthDevice, asked: &Asked, gbv: Gbv) -> Result<Report, ApiError> {
    let (name, _) = admin::commune_info(&state.db, auth.commune).await?;
    let req = build::Request {
        commune: auth.commune,
        period: asked.period.clone(),
        approved_only: asked.approved_only,
        by: asked.by,
        gbv,
        lang: asked.lang,
    };
    let report = build::report(&state.db, &name, &req).await?;
    Ok(report)
}

/// Writes the audit row of exact GBV figures leaving the database.
async fn audit_exact(state: &AppState, auth: &AuthDevice, action: &str, period: &Period) -> Result<(), ApiError> {
    let detail = format!("{} to {}", period.from, period.to);
    Ok(admin::audit_event(&state.db, Some(auth.user), Some(auth.device), action, &detail).await?)
}

/// `GET /api/v1/reports`: the plan-shaped report of the caller's commune for a period. Reviewers
/// get GBV figures suppressed; GBV focal points get them exact (audited).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    summary = "The plan-shaped report of a period (reviewers: GBV suppressed; GBV focal points: exact, audited)",
    security(("bearer" = [])), params(PeriodQuery, ReportQuery),
    responses(
        (status = 200, description = "the report", body = Report),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn report(
    State(state): State<AppState>,
    auth: AuthDevice,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    allow(&auth, Want::Report)?;
    let (_, asked) = read(q)?;
    let (gbv, audited) = gbv_figures(&auth, Want::Report)?;
    if audited {
        audit_exact(&state, &auth, "gbv.report", &asked.period).await?;
    }
    Ok(Json(build_for(&state, &auth, &asked, gbv).await?))
}

/// `GET /api/v1/reports/completeness`: which villages and units have reported for the period,
/// against the commune's deadline.
#[utoipa::path(get, path = "/api/v1/reports/completeness", tag = "reports",
    summary = "Which villages and units have reported for the period, against the deadline",
    security(("bearer" = [])), params(PeriodQuery, ReportQuery),
    responses(
        (status = 200, description = "a table by village and one by unit", body = Vec<Table>),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn completeness(
    State(state): State<AppState>,
    auth: AuthDevice,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Vec<Table>>, ApiError> {
    allow(&auth, Want::Completeness)?;
    let (_, asked) = read(q)?;
    let (_, deadline) = admin::commune_info(&state.db, auth.commune).await?;
    let tables =
        completeness::tables(&state.db, auth.commune, &deadline, &asked.period, crate::now_ms(), asked.lang).await?;
    Ok(Json(tables))
}

/// `GET /api/v1/reports/export`: the report as an XLSX workbook or a CSV file. GBV figures are
/// suppressed, unless a GBV focal point asks for them exact (`exact=true`, audited).
#[utoipa::path(get, path = "/api/v1/reports/export", tag = "reports",
    summary = "The report and completeness as XLSX or CSV (GBV suppressed unless a focal point asks exact=true, audited)",
    security(("bearer" = [])), params(PeriodQuery, ReportQuery),
    responses(
        (status = 200, description = "the file (Content-Disposition: attachment)", content(
            (inline(crate::api_doc::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn export(
    State(state): State<AppState>,
    auth: AuthDevice,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    allow(&auth, Want::Export { exact: false })?;
    let (q, asked) = read(q)?;
    let want = Want::Export { exact: flag("exact", &q.exact)? };
    let (gbv, audited) = gbv_figures(&auth, want)?;
    // Checked before anything is built or audited.
    let csv = match q.format.as_deref() {
        None | Some("xlsx") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("format must be xlsx or csv, not {other:?}"))),
    };
    let report = build_for(&state, &auth, &asked, gbv).await?;
    let (_, deadline) = admin::commune_info(&state.db, auth.commune).await?;
    let mut report = report;
    report.tables.extend(
        completeness::tables(&state.db, auth.commune, &deadline, &asked.period, crate::now_ms(), asked.lang).await?,
    );
    if audited {
        audit_exact(&state, &auth, "gbv.export", &asked.period).await?;
    }
    let stem = format!("bao-cao-{}-{}", asked.period.from, asked.period.to);
    let (body, content_type, file) = if csv {
        (export::csv(&report), "text/csv; charset=utf-8", format!("{stem}.csv"))
    } else {
        (
            export::xlsx(&report).map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the workbook: {e}")))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("{stem}.xlsx"),
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        body,
    )
        .into_response())
}

/// A village of the commune.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Village {
    /// Its id.
    pub id: VillageId,
    /// Its name.
    pub name: String,
}

/// An organising unit of the commune.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Unit {
    /// Its code (what records carry in `unit`).
    pub code: String,
    /// Its name.
    pub name: String,
}

/// `GET /api/v1/villages`: the villages of the caller's commune, by name.
#[utoipa::path(get, path = "/api/v1/villages", tag = "reports", summary = "The villages of the caller's commune",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "villages by name", body = Vec<Village>),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn villages(State(state): State<AppState>, auth: AuthDevice) -> Result<Json<Vec<Village>>, ApiError> {
    let villages = admin::villages(&state.db, auth.commune).await?;
    Ok(Json(villages.into_iter().map(|(id, name)| Village { id, name }).collect()))
}

/// `GET /api/v1/units`: the organising units of the caller's commune, by name.
#[utoipa::path(get, path = "/api/v1/units", tag = "reports", summary = "The organising units of the caller's commune",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "units by name", body = Vec<Unit>),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn units(State(state): State<AppState>, auth: AuthDevice) -> Result<Json<Vec<Unit>>, ApiError> {
    let units = admin::units(&state.db, auth.commune).await?;
    Ok(Json(units.into_iter().map(|(code, name)| Unit { code, name }).collect()))
}
