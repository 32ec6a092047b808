//! What a reviewer does without a phone, and the record pages' data: resolve a conflict (choose
//! one of the values or enter another), restore a deleted record (admins), a record's field
//! history, purging a GBV case's history (focal points), and the suspected-duplicates queue
//! (merge with a per-field choice, or dismiss).
//! Every change is an ordinary edit made as the person's session device through the same ingest
//! as a phone's push, so the write rules decide and the phones receive it on their next sync.

use super::{path_id, server_edit};
use crate::api_doc::answer;
use crate::auth::{AuthDevice, Role, require};
use crate::duplicates;
use crate::error::{ApiError, body_rejection};
use crate::policy::Read;
use crate::records;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use sotay_sync_core::record::HistoryEntry;
use sotay_sync_core::rules::Effect;
use sotay_sync_core::schema::*;
use sotay_sync_core::{Coded, Date, Edit, Field, GeoPoint, Record, RecordId, RecordKind, RecordView};
use utoipa::ToSchema;

/// Body of `POST /api/v1/records/{id}/resolve`: one of `choice` (the index of a value in the
/// conflict, as listed in the record's `conflicts`) or `value` (a new value, as in the record's
/// JSON: a code, a number, a date, text, or a list of codes for a set).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    /// The field, by its code (`attendance_female`).
    #[schema(value_type = Field)]
    pub field: String,
    /// Pick this value of the conflict (an index in its `values`).
    #[schema(minimum = 0)]
    pub choice: Option<usize>,
    /// Or write this value: a code, a number, a date, text, or a list of codes, as in a record.
    pub value: Option<serde_json::Value>,
}

fn field_of(code: &str) -> Result<Field, ApiError> {
    Field::from_code(code).ok_or_else(|| ApiError::BadRequest(format!("field: unknown field {code:?}")))
}

/// The edits that give `field` the value `v` (JSON as in a record view), from `current`.
pub fn edits_for(field: Field, v: &serde_json::Value, current: &RecordView) -> Result<Vec<Edit>, String> {
    let text = || v.as_str().map(str::to_string).ok_or_else(|| format!("{}: expected text", field.code()));
    let code = |all: &str| -> Result<String, String> {
        v.as_str().map(str::to_string).ok_or_else(|| format!("{}: expected one of {all}", field.code()))
    };
    let count = || {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{}: expected a whole number", field.code()))
    };
    let date =
        || -> Result<Date, String> { text()?.parse().map_err(|_| format!("{}: expected YYYY-MM-DD", field.code())) };
    fn parse<T: Coded>(field: Field, s: String) -> Result<T, String> {
        T::from_code(&s).ok_or_else(|| format!("{}: unknown code {s:?}", field.code()))
    }
    fn set<T: Coded + PartialEq>(
        field: Field,
        v: &serde_json::Value,
        current: &[T],
        add: fn(T) -> Edit,
        remove: fn(T) -> Edit,
    ) -> Result<Vec<Edit>, String> {
        let wanted: Vec<T> = v
            .as_array()
            .ok_or_else(|| format!("{}: expected a list of codes", field.code()))?
            .iter()
            .map(|c| parse::<T>(field, c.as_str().unwrap_or_default().to_string()))
            .collect::<Result<_, _>>()?;
        let mut edits: Vec<Edit> = wanted.iter().filter(|w| !current.contains(w)).map(|&w| add(w)).collect();
        edits.extend(current.iter().filter(|c| !wanted.contains(c)).map(|&c| remove(c)));
        Ok(edits)
    }
    Ok(match field {
        Field::Unit => vec![Edit::Unit(text()?)],
        Field::PlanItem => vec![Edit::PlanItem(parse(field, code("plan items")?)?)],
        Field::ActivityType => vec![Edit::ActivityType(parse(field, code("activity types")?)?)],
        Field::Format if v.is_null() => vec![Edit::Format(None)],
        Field::Format => vec![Edit::Format(Some(parse(field, code("formats")?)?))],
        Field::Topics => set(field, v, &current.topics, Edit::AddTopic, Edit::RemoveTopic)?,
        Field::HeldOn => vec![Edit::HeldOn(date()?)],
        Field::Location => vec![Edit::Location(text()?)],
        Field::Gps if v.is_null() => vec![Edit::Gps(None)],
        Field::Gps => vec![Edit::Gps(Some(
            serde_json::from_value::<GeoPoint>(v.clone())
                .map_err(|_| "gps: expected {\"lat\": …, \"lon\": …}".to_string())?,
        ))],
        Field::AttendanceFemale => vec![Edit::AttendanceFemale(count()?)],
        Field::AttendanceMale => vec![Edit::AttendanceMale(count()?)],
        Field::AttendanceEthnicMinority if v.is_null() => vec![Edit::AttendanceEthnicMinority(None)],
        Field::AttendanceEthnicMinority => vec![Edit::AttendanceEthnicMinority(Some(count()?))],
        Field::Notes => vec![Edit::Notes(text()?)],
        Field::CaseCode => vec![Edit::CaseCode(text()?)],
        Field::ReportedOn => vec![Edit::ReportedOn(date()?)],
        Field::SurvivorSex => vec![Edit::SurvivorSex(parse::<Sex>(field, code("sexes")?)?)],
        Field::SurvivorAgeGroup => vec![Edit::SurvivorAgeGroup(parse::<AgeGroup>(field, code("age groups")?)?)],
        Field::ViolenceTypes => {
            set(field, v, &current.violence_types, Edit::AddViolenceType, Edit::RemoveViolenceType)?
        }
        Field::Setting => vec![Edit::Setting(parse::<Setting>(field, code("settings")?)?)],
        Field::ReferredTo => set(field, v, &current.referred_to, Edit::AddReferredTo, Edit::RemoveReferredTo)?,
        Field::CaseStatus => vec![Edit::CaseStatus(parse::<CaseStatus>(field, code("case statuses")?)?)],
        Field::ConsentToShare => {
            vec![Edit::ConsentToShare(
                v.as_bool().ok_or_else(|| "consent_to_share: expected true or false".to_string())?,
            )]
        }
        Field::Review | Field::Deleted => {
            return Err(format!("{}: changed by review actions, delete and restore, not by a value", field.code()));
        }
    })
}

/// The stored view and document of a record, if the caller may see it (a focal point's view of
/// a case is audited).
async fn visible_view(state: &AppState, auth: &AuthDevice, id: RecordId) -> Result<(RecordView, Vec<u8>), ApiError> {
    let stored = records::stored(&state.db, auth.commune, id, true).await?.ok_or(ApiError::NotFound)?;
    match stored.read(auth) {
        Read::Hidden => return Err(ApiError::NotFound),
        Read::Audited => records::audit_views(&state.db, auth, &[id], "history").await?,
        Read::Readable => {}
    }
    Ok((stored.view()?, stored.doc.unwrap_or_default()))
}

/// `POST /api/v1/records/{id}/resolve`: resolves a conflict by choosing a value or entering one.
#[utoipa::path(post, path = "/api/v1/records/{id}/resolve", tag = "records",
    summary = "Resolve a conflict: choose one of its values (choice) or enter one (value)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "the record after the edit", body = RecordView),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 409, response = answer::Conflict),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
    body: Result<Json<ResolveRequest>, JsonRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::Collaborator, Role::Reviewer, Role::GbvFocalPoint])?;
    let id = path_id(id)?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let field = field_of(&body.field)?;
    let intent = Effect { fields: vec![field], ..Effect::default() };
    match (body.choice, body.value) {
        (Some(choice), None) => {
            server_edit(&state, &auth, id, None, intent, |r, now| r.resolve(field, choice, now)).await
        }
        (None, Some(value)) => {
            let (current, _) = visible_view(&state, &auth, id).await?;
            let edits = edits_for(field, &value, &current).map_err(ApiError::Unprocessable)?;
            server_edit(&state, &auth, id, None, intent, move |r, now| {
                r.edit(&edits, now)?.ok_or(sotay_sync_core::RecordError::NoSuchConflict("the value is already this"))
            })
            .await
        }
        _ => Err(ApiError::BadRequest("give either choice (an index) or value, not both".into())),
    }
}

/// `POST /api/v1/records/{id}/restore`: an admin restores a soft-deleted record.
#[utoipa::path(post, path = "/api/v1/records/{id}/restore", tag = "records",
    summary = "Restore a soft-deleted record (admins)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    responses(
        (status = 200, description = "the record after the restore", body = RecordView),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn restore(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::Admin])?;
    let intent = Effect { delete: Some(false), ..Effect::default() };
    server_edit(&state, &auth, path_id(id)?, Some("record.restore"), intent, |r, now| {
        r.restore(now)?.ok_or(sotay_sync_core::RecordError::NoSuchConflict("the record is not deleted"))
    })
    .await
}

/// Answer of `POST /api/v1/records/{id}/purge-history`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurgeAnswer {
    /// Whether anything was purged (false: the case already held only its current values).
    pub purged: bool,
}

/// `POST /api/v1/records/{id}/purge-history`: a GBV focal point purges a case's history now
/// (`crate::store::purge_history`): only its current values stay, on the server and, after its
/// next sync, on the creating phone. Audited (`gbv.purge`).
#[utoipa::path(post, path = "/api/v1/records/{id}/purge-history", tag = "records",
    summary = "Purge a GBV case's history now: only its current values stay, on the server and the creating phone (focal points, audited)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    responses(
        (status = 200, description = "whether anything was purged", body = PurgeAnswer),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn purge_history(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
) -> Result<Json<PurgeAnswer>, ApiError> {
    require(&auth, &[Role::GbvFocalPoint])?;
    let id = path_id(id)?;
    let stored = records::stored(&state.db, auth.commune, id, false).await?.ok_or(ApiError::NotFound)?;
    if matches!(stored.read(&auth), Read::Hidden) {
        return Err(ApiError::NotFound);
    }
    let done = crate::store::purge_history(&state.db, auth.commune, id, Some(auth.user), crate::now_ms()).await?;
    Ok(Json(PurgeAnswer { purged: done == crate::store::Purged::Done }))
}

/// `GET /api/v1/records/{id}/history`: every change of the record, oldest first, with who made
/// it, on which device, when, and which fields it changed from what to what. GBV history is for
/// GBV focal points (audited) and the creating phone.
#[utoipa::path(get, path = "/api/v1/records/{id}/history", tag = "records",
    summary = "Every change of a record: when, device, user, fields from and to (GBV: focal points, audited)",
    security(("bearer" = [])), params(("id" = RecordId, Path, description = "the record")),
    responses(
        (status = 200, description = "changes, oldest first", body = Vec<HistoryEntry>),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
    ))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthDevice,
    id: Result<Path<RecordId>, PathRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    require(&auth, &[Role::Collaborator, Role::Reviewer, Role::GbvFocalPoint])?;
    let id = path_id(id)?;
    let (_, doc) = visible_view(&state, &auth, id).await?;
    let history = tokio::task::spawn_blocking(move || {
        Record::load(&doc, None).map(|mut r| r.field_history()).map_err(|e| ApiError::Internal(e.into()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(Json(history))
}

/// `GET /api/v1/duplicates`: open suspected duplicates of the commune, oldest first.
#[utoipa::path(get, path = "/api/v1/duplicates", tag = "records", summary = "Open suspected duplicates (reviewers)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "pairs, oldest first (at most 500)", body = Vec<duplicates::Pair>),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
    ))]
pub async fn duplicate_queue(
    State(state): State<AppState>,
    auth: AuthDevice,
) -> Result<Json<Vec<duplicates::Pair>>, ApiError> {
    require(&auth, &[Role::Reviewer])?;
    Ok(Json(duplicates::open_pairs(&state.db, auth.commune, 500).await?))
}

/// Body of `POST /api/v1/duplicates/merge`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The record kept.
    pub keep: RecordId,
    /// The record merged into it and then soft-deleted.
    pub drop: RecordId,
    /// Fields whose value is taken from `drop` (by code); the others keep `keep`'s.
    #[serde(default)]
    #[schema(value_type = Vec<Field>, required = false)]
    pub take: Vec<String>,
}

/// Body of `POST /api/v1/duplicates/dismiss`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DismissRequest {
    /// One record of the pair.
    pub first: RecordId,
    /// The other.
    pub second: RecordId,
}

/// `POST /api/v1/duplicates/merge`: keeps one record with the values chosen per field and
/// soft-deletes the other. Both are edits that reach the phones.
#[utoipa::path(post, path = "/api/v1/duplicates/merge", tag = "records",
    summary = "Merge a pair: keep one with the values chosen per field, soft-delete the other (reviewers)",
    security(("bearer" = [])), request_body = MergeRequest,
    responses(
        (status = 200, description = "the kept record", body = RecordView),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
        (status = 409, response = answer::Conflict),
        (status = 422, response = answer::Unprocessable),
    ))]
pub async fn merge(
    State(state): State<AppState>,
    auth: AuthDevice,
    body: Result<Json<MergeRequest>, JsonRejection>,
) -> Result<Json<RecordView>, ApiError> {
    require(&auth, &[Role::Reviewer])?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    if !duplicates::is_open(&state.db, auth.commune, body.keep, body.drop).await? {
        return Err(ApiError::NotFound);
    }
    let (kept, _) = visible_view(&state, &auth, body.keep).await?;
    let (dropped, _) = visible_view(&state, &auth, body.drop).await?;
    let values = serde_json::to_value(&dropped).map_err(|e| ApiError::Internal(e.into()))?;
    let mut edits = Vec::new();
    let mut fields = Vec::new();
    for code in &body.take {
        let field = field_of(code)?;
        if !Field::of_kind(RecordKind::Activity).contains(&field) {
            return Err(ApiError::BadRequest(format!("take: {code} is not a field of an activity")));
        }
        let value = values.get(field.code()).cloned().unwrap_or(serde_json::Value::Null);
        edits.extend(edits_for(field, &value, &kept).map_err(ApiError::Unprocessable)?);
        fields.push(field);
    }
    fields.sort();
    let mut view = kept;
    if !edits.is_empty() {
        let intent = Effect { fields, ..Effect::default() };
        let Json(v) = server_edit(&state, &auth, body.keep, None, intent, move |r, now| {
            r.edit(&edits, now)?.ok_or(sotay_sync_core::RecordError::NoSuchConflict("nothing to take"))
        })
        .await?;
        view = v;
    }
    let intent = Effect { delete: Some(true), ..Effect::default() };
    let _deleted = server_edit(&state, &auth, body.drop, None, intent, |r, now| r.delete(now)).await?;
    duplicates::decide(&state.db, auth.commune, body.keep, body.drop, Some(body.keep), auth.user).await?;
    Ok(Json(view))
}

/// Answer of `POST /api/v1/duplicates/dismiss`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DismissAnswer {
    /// The two records of the pair dismissed.
    pub dismissed: Vec<RecordId>,
}

/// `POST /api/v1/duplicates/dismiss`: the pair is not a duplicate; it is never suggested again.
#[utoipa::path(post, path = "/api/v1/duplicates/dismiss", tag = "records",
    summary = "Not a duplicate: never suggested again (reviewers)",
    security(("bearer" = [])), request_body = DismissRequest,
    responses(
        (status = 200, description = "dismissed", body = DismissAnswer),
        (status = 400, response = answer::BadRequest),
        (status = 401, response = answer::Unauthorized),
        (status = 403, response = answer::Forbidden),
        (status = 404, response = answer::NotFound),
    ))]
pub async fn dismiss(
    State(state): State<AppState>,
    auth: AuthDevice,
    body: Result<Json<DismissRequest>, JsonRejection>,
) -> Result<Json<DismissAnswer>, ApiError> {
    require(&auth, &[Role::Reviewer])?;
    let Json(body) = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    if !duplicates::decide(&state.db, auth.commune, body.first, body.second, None, auth.user).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(DismissAnswer { dismissed: vec![body.first, body.second] }))
}
