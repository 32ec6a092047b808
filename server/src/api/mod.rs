//! The JSON API beyond sync: records as reviewers and collaborators may see them, GBV aggregates
//! with small-cell suppression, and the admin endpoints. Every handler that takes a record id
//! checks the caller may see that record; GBV case details are shown only to the phone that
//! created the case and to GBV focal points, and every such view by a focal point is audited.

pub mod actions;
pub mod devices;
pub mod health;
pub mod reports;

use crate::admin;
use crate::api_doc::answer;
use crate::auth::{AuthDevice, Role, require};
use crate::error::{ApiError, body_rejection};
use crate::policy::{self, Read};
use crate::records;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use sotay_sync_core::rules::{self, Channel, Effect, Writer};
use sotay_sync_core::schema::{Coded, RecordKind, ReviewState};
use sotay_sync_core::{DeviceId, RecordId, RecordView, VillageId};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET /api/v1/records`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// `activity` or `gbv_referral`.
    #[param(value_type = Option<RecordKind>)]
    pub kind: Option<String>,
    /// A village id.
    pub village: Option<VillageId>,
    /// At most this many (default 500, at most 5000).
    #[param(minimum = 1, maximum = 5000, default = 500)]
    pub limit: Option<u32>,
    /// Records after this id (paging).
    pub after: Option<RecordId>,
}

/// `GET /api/v1/records`: the records the caller may see, newest id last.
#[utoipa::path(get, path = "/api/v1/records", tag = "records", summary = "Records the caller may see, by id",
    description = "GBV cases reach only the phone that created them and GBV focal points (audited).",
    security(("bearer" = [])), params(RecordQuery),
    responses(
        (status = 200, description = "records, by id", body = Vec<RecordView>),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn list_records(
    State(state): State<AppState>,
    auth: AuthDevice,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> Result<Json<Vec<RecordView>>, ApiError> {
    require(&auth, &[Role::Collaborator, Role::Reviewer, Role::GbvFocalPoint])?;
    let Query(q) = q.map_err(|r| ApiError::BadRequest(r.body_text()))?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(RecordKind::from_code(k).ok_or_else(|| ApiError::BadRequest("kind: unknown".into()))?),
    };
    let limit = q.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 5000".into()));
    }
    let limit = i64::from(limit);
    let page = records::Page { kind, village: q.village, after: q.after, limit, ..Default::default() };
    Ok(Json(readable_page(&state, &auth, page).await?))
}

/// A page of the records the caller may read, each GBV case a focal point sees audited: the
/// API's record list and the web app's.
pub async fn readable_page(
    state: &AppState,
    auth: &AuthDevice,
    page: records::Page,
) -> Result<Vec<RecordView>, ApiError> {
    require(auth, &[Role::Collaborator, Role::Reviewer, Role::GbvFocalPoint])?;
    let page = records::page(&state.db, auth, page).await?;
    let audited: Vec<RecordId> = page.iter().filter(|r| r.read(auth) == Read::Audited).map(|r| r.id).collect();
    records::audit_views(&state.db, auth, &audited, "list").await?;
    Ok(page.iter().map(|r| r.view()).collect::<anyhow::Result<_>>()?)
}

/// `GET /api/v1/records/{id}`: one record, if the caller may see it (404 otherwise, so a record
/// the caller may not see is indistinguishable from one that does not exist).
#[utoipa::path(get, path = "/api/v1/records/{id}", tag = "records",
    summary = "One record (GBV views by focal points are audited)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    responses(
        (status = 200, description = "the record", body = RecordView),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
    ))]
pub async fn get_record(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
) -> Result<Json<RecordView>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::NotFound)?;
    let record = records::stored(&state.db, auth.commune, id, false).await?.ok_or(ApiError::NotFound)?;
    match record.read(&auth) {
        Read::Hidden => return Err(ApiError::NotFound),
        Read::Audited => records::audit_views(&state.db, &auth, &[id], "record").await?,
        Read::Readable => {}
    }
    Ok(Json(record.view()?))
}

/// Body of `POST /api/v1/records/{id}/return`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReturnRequest {
    /// Why the record goes back to its author (required).
    #[schema(min_length = 1)]
    pub comment: String,
}

/// Body of `POST /api/v1/records/{id}/case-status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseStatusRequest {
    /// The new status code: `referred`, `receiving_support` or `closed`.
    #[schema(value_type = sotay_sync_core::schema::CaseStatus)]
    pub case_status: String,
}

/// An edit the server makes for a person in the web app: the record is loaded, changed as this
/// session's device (its own Automerge actor, the user as author) and the change goes through the
/// same ingest as a phone's push, so it is checked, logged and synced like any other.
pub(super) async fn server_edit(
    state: &AppState,
    auth: &AuthDevice,
    id: RecordId,
    audit_action: Option<&'static str>,
    intent: Effect,
    action: impl FnOnce(&mut sotay_sync_core::Record, i64) -> Result<Vec<u8>, sotay_sync_core::RecordError>,
) -> Result<Json<RecordView>, ApiError> {
    let stored = records::stored(&state.db, auth.commune, id, true).await?.ok_or(ApiError::NotFound)?;
    let (kind, rel) = (stored.kind, stored.relation(auth));
    if !policy::may_write(auth.role, kind, rel, Channel::Api) {
        return Err(match policy::read(auth.role, kind, rel, Channel::Api) {
            Read::Hidden => ApiError::NotFound,
            _ => ApiError::Forbidden("your role may not change this record".into()),
        });
    }
    // The write rules say whether this role may do this at all before the record's state is
    // looked at (so a role that may never approve hears 403, not "already approved"); the change
    // itself is checked again, in full, by the ingest.
    rules::permits(Writer { role: auth.role, channel: Channel::Api }, kind, &intent)
        .map_err(|r| ApiError::Forbidden(r.message(sotay_sync_core::Lang::En)))?;
    let editor = sotay_sync_core::Editor { device: auth.device, user: auth.user };
    let mut record = sotay_sync_core::Record::load(stored.doc.as_deref().unwrap_or_default(), Some(editor))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let change = action(&mut record, crate::now_ms()).map_err(|e| match e {
        sotay_sync_core::RecordError::Transition { .. } | sotay_sync_core::RecordError::Deleted => {
            ApiError::Conflict(e.to_string())
        }
        e => ApiError::Unprocessable(e.to_string()),
    })?;
    let push = [sotay_sync_core::wire::RecordChanges {
        record: id.as_bytes().to_vec(),
        changes: vec![sotay_sync_core::wire::ChangeBytes(change)],
    }];
    if let Some(refused) =
        crate::sync::ingest_audited(state, auth, &push, crate::sync::Channel::Api, audit_action).await?.pop()
    {
        // The write rules (sotay_sync_core::rules) decided; say why in the answer's terms.
        return Err(match (refused.code.as_str(), refused.reason.as_deref()) {
            (_, Some("review_transition")) => ApiError::Conflict(refused.message),
            ("forbidden", _) => ApiError::Forbidden(refused.message),
            _ => ApiError::Unprocessable(refused.message),
        });
    }
    Ok(Json(record.view()))
}

pub(super) fn path_id(id: Result<Path<RecordId>, PathRejection>) -> Result<RecordId, ApiError> {
    id.map(|Path(id)| id).map_err(|_| ApiError::NotFound)
}

/// `POST /api/v1/records/{id}/approve`: a reviewer approves a submitted activity, a GBV focal
/// point a submitted GBV referral (which role may approve which kind is the write rules').
#[utoipa::path(post, path = "/api/v1/records/{id}/approve", tag = "records",
    summary = "Approve a submitted record (reviewers: activities; GBV focal points: referrals)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    responses(
        (status = 200, description = "the record after approval", body = RecordView),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 409, response = answer::Conflict),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn approve(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::Reviewer, Role::GbvFocalPoint])?;
    let intent = Effect { review: Some((ReviewState::Approved, None)), ..Effect::default() };
    server_edit(&state, &auth, path_id(id)?, None, intent, |r, now| r.approve(now)).await
}

/// `POST /api/v1/records/{id}/return`: a reviewer returns a submitted activity with a comment
/// (a GBV focal point a GBV referral).
#[utoipa::path(post, path = "/api/v1/records/{id}/return", tag = "records",
    summary = "Return a submitted record to its author with a comment",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    request_body = ReturnRequest,
    responses(
        (status = 200, description = "the record after return", body = RecordView),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 409, response = answer::Conflict),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn return_record(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
    body: Result<Json<ReturnRequest>, JsonRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::Reviewer, Role::GbvFocalPoint])?;
    let id = path_id(id)?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let intent = Effect { review: Some((ReviewState::Returned, None)), ..Effect::default() };
    server_edit(&state, &auth, id, None, intent, |r, now| r.return_to_author(&body.comment, now)).await
}

/// `POST /api/v1/records/{id}/case-status`: a GBV focal point updates a case's status (audited).
#[utoipa::path(post, path = "/api/v1/records/{id}/case-status", tag = "records",
    summary = "Update a GBV case's status (focal points, audited)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    request_body = CaseStatusRequest,
    responses(
        (status = 200, description = "the case after the update", body = RecordView),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 409, response = answer::Conflict),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn case_status(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
    body: Result<Json<CaseStatusRequest>, JsonRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::GbvFocalPoint])?;
    let id = path_id(id)?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let status = sotay_sync_core::schema::CaseStatus::from_code(&body.case_status)
        .ok_or_else(|| ApiError::Unprocessable("case_status: expected referred, receiving_support or closed".into()))?;
    let intent = Effect { fields: vec![sotay_sync_core::Field::CaseStatus], ..Effect::default() };
    server_edit(&state, &auth, id, Some("gbv.update"), intent, |r, now| {
        r.edit(&[sotay_sync_core::Edit::CaseStatus(status)], now)?
            .ok_or(sotay_sync_core::RecordError::NoSuchConflict("case_status unchanged"))
    })
    .await
}

/// A count, or `"<5"` when it is small enough to identify someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Cell {
    /// A count shown as is.
    Count(u64),
    /// A suppressed count.
    Suppressed(String),
}

/// Counts below this are suppressed (the one threshold, `crate::reports::suppress`).
pub const SMALL_CELL: u64 = crate::reports::suppress::THRESHOLD;

/// Small-cell suppression of one breakdown, by the one rule of `crate::reports::suppress`:
/// counts from 1 to 4 become `"<5"`, with complementary suppression so that the total cannot
/// reveal them.
pub fn suppress(cells: &BTreeMap<String, u64>) -> BTreeMap<String, Cell> {
    let counts: Vec<Vec<u64>> = cells.values().map(|&n| vec![n]).collect();
    let hidden = crate::reports::suppress::suppress(&counts);
    cells
        .iter()
        .zip(&hidden.cells)
        .map(|((k, n), h)| {
            let cell =
                if h[0] { Cell::Suppressed(crate::reports::table::SUPPRESSED_TEXT.into()) } else { Cell::Count(*n) };
            (k.clone(), cell)
        })
        .collect()
}

/// `GET /api/v1/reports/gbv`: GBV referrals of the commune as aggregates only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GbvAggregates {
    /// Referrals counted (not deleted).
    pub total: Cell,
    /// By violence type (a case may count under several).
    pub by_violence_type: BTreeMap<String, Cell>,
    /// By survivor age group.
    pub by_age_group: BTreeMap<String, Cell>,
    /// By service referred to (a case may count under several).
    pub by_service: BTreeMap<String, Cell>,
    /// By case status.
    pub by_case_status: BTreeMap<String, Cell>,
}

/// `GET /api/v1/reports/gbv`.
#[utoipa::path(get, path = "/api/v1/reports/gbv", tag = "reports",
    summary = "GBV aggregates, small cells suppressed (reviewers, focal points)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "aggregates", body = GbvAggregates),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn gbv_report(State(state): State<AppState>, auth: AuthDevice) -> Result<Json<GbvAggregates>, ApiError> {
    reports::allow(&auth, policy::Want::GbvSummary)?;
    let views = records::gbv_views(&state.db, auth.commune).await?;
    let mut by_violence = BTreeMap::new();
    let mut by_age = BTreeMap::new();
    let mut by_service = BTreeMap::new();
    let mut by_status = BTreeMap::new();
    let mut total = 0u64;
    for v in views {
        total += 1;
        for t in &v.violence_types {
            *by_violence.entry(t.code().to_string()).or_insert(0) += 1;
        }
        for s in &v.referred_to {
            *by_service.entry(s.code().to_string()).or_insert(0) += 1;
        }
        if let Some(a) = v.survivor_age_group {
            *by_age.entry(a.code().to_string()).or_insert(0) += 1;
        }
        if let Some(s) = v.case_status {
            *by_status.entry(s.code().to_string()).or_insert(0) += 1;
        }
    }
    let total = if total > 0 && total < SMALL_CELL {
        Cell::Suppressed(crate::reports::table::SUPPRESSED_TEXT.into())
    } else {
        Cell::Count(total)
    };
    Ok(Json(GbvAggregates {
        total,
        by_violence_type: suppress(&by_violence),
        by_age_group: suppress(&by_age),
        by_service: suppress(&by_service),
        by_case_status: suppress(&by_status),
    }))
}

/// `GET /api/v1/admin/users/{username}/devices`.
#[utoipa::path(get, path = "/api/v1/admin/users/{username}/devices", tag = "admin",
    summary = "A user's devices (admins)",
    security(("bearer" = [])), params(("username" = String, Path, description = "the user's login name")),
    responses(
        (status = 200, description = "devices, by enrolment", body = Vec<admin::DeviceInfo>),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
    ))]
pub async fn user_devices(
    State(state): State<AppState>,
    auth: AuthDevice,
    Path(username): Path<String>,
) -> Result<Json<Vec<admin::DeviceInfo>>, ApiError> {
    require(&auth, &[Role::Admin])?;
    let user = admin_user_in_commune(&state, &auth, &username).await?;
    Ok(Json(admin::list_devices(&state.db, user).await?))
}

/// Answer of `POST /api/v1/admin/devices/{id}/revoke`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeAnswer {
    /// The device revoked.
    pub revoked: DeviceId,
}

/// `POST /api/v1/admin/devices/{id}/revoke`: the device is refused from its next request on.
#[utoipa::path(post, path = "/api/v1/admin/devices/{id}/revoke", tag = "admin",
    summary = "Revoke a device (admins): refused from its next request",
    security(("bearer" = [])), params(("id" = DeviceId, Path, description = "the device")),
    responses(
        (status = 200, description = "revoked", body = RevokeAnswer),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
    ))]
pub async fn revoke_device(
    State(state): State<AppState>,
    auth: AuthDevice,
    device: Result<Path<DeviceId>, PathRejection>,
) -> Result<Json<RevokeAnswer>, ApiError> {
    require(&auth, &[Role::Admin])?;
    let Path(device) = device.map_err(|_| ApiError::NotFound)?;
    if admin::device_commune(&state.db, device).await? != Some(auth.commune) {
        return Err(ApiError::NotFound);
    }
    admin::revoke_device_by(&state.db, device, Some(auth.user)).await.map_err(|_| ApiError::NotFound)?;
    Ok(Json(RevokeAnswer { revoked: device }))
}

/// Query of `GET /api/v1/admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries after this cursor (`next_cursor` of the previous page).
    #[serde(default)]
    #[param(minimum = 0)]
    pub after: i64,
    /// Page size, 1 to 1000 (default 200).
    #[param(minimum = 1, maximum = 1000, default = 200)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/admin/audit`: the audit log of the admin's commune, oldest first, in pages.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    summary = "The audit log of the admin's commune, oldest first, in pages (admins)",
    security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "a page of entries, oldest first", body = admin::AuditPage),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    auth: AuthDevice,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<admin::AuditPage>, ApiError> {
    require(&auth, &[Role::Admin])?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(admin::audit_page(&state.db, Some(auth.commune), q.after, limit).await?))
}

/// Body of `PUT /api/v1/admin/report-deadline`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadlineRequest {
    /// The day of the year by which villages and units report, as `MM-DD` (25 November is
    /// `11-25`); completeness applies it in the year each period ends. 29 February is refused.
    #[schema(example = "11-25", pattern = "^[0-9]{1,2}-[0-9]{1,2}$")]
    pub deadline: String,
}

/// Answer of `PUT /api/v1/admin/report-deadline`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadlineAnswer {
    /// The deadline now, `MM-DD`.
    #[schema(example = "12-15")]
    pub deadline: String,
    /// The deadline it replaced, `MM-DD`.
    #[schema(example = "11-25")]
    pub previous: String,
}

/// `PUT /api/v1/admin/report-deadline`: sets the deadline completeness judges the admin's commune
/// against (audited as `commune.deadline`).
#[utoipa::path(put, path = "/api/v1/admin/report-deadline", tag = "admin",
    summary = "Set the commune's reporting deadline, a day of the year (admins, audited)",
    security(("bearer" = [])), request_body = DeadlineRequest,
    responses(
        (status = 200, description = "the deadline set, and the one it replaced", body = DeadlineAnswer),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn set_report_deadline(
    State(state): State<AppState>,
    auth: AuthDevice,
    body: Result<Json<DeadlineRequest>, JsonRejection>,
) -> Result<Json<DeadlineAnswer>, ApiError> {
    require(&auth, &[Role::Admin])?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let deadline: admin::Deadline =
        body.deadline.parse().map_err(|e: admin::DeadlineError| ApiError::BadRequest(e.to_string()))?;
    let previous = admin::set_report_deadline(&state.db, auth.commune, deadline, Some(&auth)).await?;
    Ok(Json(DeadlineAnswer { deadline: deadline.to_string(), previous }))
}

pub(crate) async fn admin_user_in_commune(
    state: &AppState,
    auth: &AuthDevice,
    username: &str,
) -> Result<sotay_sync_core::UserId, ApiError> {
    admin::user_in_commune(&state.db, auth.commune, username).await?.ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn small_cells_are_suppressed_with_a_complement() {
        let s = suppress(&cells(&[("physical", 12), ("sexual", 2), ("economic", 7), ("psychological", 0)]));
        assert_eq!(s["sexual"], Cell::Suppressed("<5".into()));
        assert_eq!(s["economic"], Cell::Suppressed("<5".into()), "complementary: the next smallest");
        assert_eq!(s["physical"], Cell::Count(12));
        assert_eq!(s["psychological"], Cell::Count(0));
        let s = suppress(&cells(&[("a", 3), ("b", 1), ("c", 40)]));
        assert_eq!(s["c"], Cell::Count(40), "two small cells already hide each other");
        let s = suppress(&cells(&[("a", 5), ("b", 9)]));
        assert!(s.values().all(|c| matches!(c, Cell::Count(_))));
    }
}
