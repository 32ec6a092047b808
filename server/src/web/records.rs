//! The records screens: the list with the filters of SPEC §6 and paging, and a record's page with
//! Vietnamese field labels, its conflicts (each value with who entered it, on which device and
//! when) and a form to choose or enter a value, the review actions (approve; return with a
//! comment) and the history timeline. Reading and every action go through the API's handlers
//! with the session's device, so what a page shows and allows is what the API would.

use super::session::Session;
use super::{Page, WebError, html, url_encode};
use crate::api::{self, ReturnRequest, actions::ResolveRequest};
use crate::error::ApiError;
use crate::records;
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sotay_sync_core::{
    Coded, Date, DeviceId, Field, Lang, RecordId, RecordKind, RecordView, ReviewState, UserId, VillageId,
};
use std::collections::HashMap;

/// Records on one page of the list.
const PAGE: i64 = 50;

/// The filters of the list, as the form sends them (empty fields mean "all").
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    village: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    conflicts: String,
    #[serde(default)]
    plan_item: String,
    #[serde(default)]
    duplicates: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    after_date: String,
}

fn parse<T>(text: &str, read: impl Fn(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        t => read(t).map(Some).ok_or_else(|| ApiError::BadRequest(format!("a filter is not valid: {t:?}"))),
    }
}

impl ListQuery {
    fn page(&self) -> Result<records::Page, ApiError> {
        Ok(records::Page {
            kind: parse(&self.kind, RecordKind::from_code)?,
            village: parse(&self.village, |v| v.parse::<VillageId>().ok())?,
            review: parse(&self.state, ReviewState::from_code)?,
            conflicted: !self.conflicts.is_empty(),
            plan_item: parse(&self.plan_item, sotay_sync_core::schema::PlanItem::from_code)?,
            duplicate: !self.duplicates.is_empty(),
            from: parse(&self.from, |d| d.parse::<Date>().ok())?,
            to: parse(&self.to, |d| d.parse::<Date>().ok())?,
            sort: match self.sort.as_str() {
                "" | "created" => records::Sort::Created,
                "date_desc" => records::Sort::DateDesc,
                "date_asc" => records::Sort::DateAsc,
                other => return Err(ApiError::BadRequest(format!("a filter is not valid: {other:?}"))),
            },
            after: parse(&self.after, |a| a.parse::<RecordId>().ok())?,
            after_date: parse(&self.after_date, |d| d.parse::<Date>().ok())?,
            limit: PAGE + 1,
        })
    }

    /// The query string of these filters, without the paging.
    fn filters(&self) -> String {
        [
            ("kind", &self.kind),
            ("village", &self.village),
            ("state", &self.state),
            ("conflicts", &self.conflicts),
            ("plan_item", &self.plan_item),
            ("duplicates", &self.duplicates),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", &self.sort),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// One row of the list.
struct Row {
    id: RecordId,
    date: String,
    village: String,
    kind: &'static str,
    what: String,
    female: String,
    male: String,
    state: &'static str,
    conflict: bool,
    deleted: bool,
}

#[derive(Template)]
#[template(path = "records.html")]
struct ListPage {
    p: Page,
    q: ListQuery,
    kinds: Vec<(&'static str, &'static str)>,
    states: Vec<(&'static str, &'static str)>,
    sorts: Vec<(&'static str, &'static str)>,
    plan_items: Vec<(&'static str, &'static str)>,
    villages: Vec<(String, String)>,
    rows: Vec<Row>,
    next: Option<String>,
    first: Option<String>,
}

fn village_names(list: Vec<(VillageId, String)>) -> HashMap<VillageId, String> {
    list.into_iter().collect()
}

/// `GET /records`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let fail = |e: ApiError| WebError::Api(e, lang);
    let mut views = api::readable_page(&state, &session.auth, q.page().map_err(fail)?).await.map_err(fail)?;
    let more = views.len() as i64 > PAGE;
    views.truncate(PAGE as usize);
    let villages = crate::admin::villages(&state.db, session.auth.commune).await.map_err(|e| fail(e.into()))?;
    let names = village_names(villages.clone());
    let rows = views.iter().map(|v| row(v, &names, lang)).collect();
    let filters = q.filters();
    let next = views.last().filter(|_| more).map(|last| {
        let day = last.held_on.or(last.reported_on).map(|d| d.to_string()).unwrap_or_default();
        format!("/records?{filters}&after={}&after_date={day}", last.id)
    });
    let first = (!q.after.is_empty()).then(|| format!("/records?{filters}"));
    let t = super::i18n::texts(lang);
    let page = ListPage {
        p: session.page(t.records, &format!("/records?{filters}")),
        kinds: RecordKind::ALL.iter().map(|k| (k.code(), k.label(lang))).collect(),
        states: ReviewState::ALL.iter().map(|s| (s.code(), s.label(lang))).collect(),
        plan_items: sotay_sync_core::schema::PlanItem::ALL.iter().map(|i| (i.code(), i.label(lang))).collect(),
        sorts: vec![("created", t.sort_created), ("date_desc", t.sort_date_desc), ("date_asc", t.sort_date_asc)],
        villages: villages.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
        q,
        rows,
        next,
        first,
    };
    Ok(html(&page))
}

fn row(v: &RecordView, villages: &HashMap<VillageId, String>, lang: Lang) -> Row {
    let text = |f: Field| v.field_text(f, lang).map(|t| t.label).unwrap_or_default();
    let (date, what) = match v.kind {
        RecordKind::Activity => (text(Field::HeldOn), text(Field::ActivityType)),
        RecordKind::GbvReferral => (text(Field::ReportedOn), text(Field::CaseCode)),
    };
    Row {
        id: v.id,
        date,
        village: villages.get(&v.village).cloned().unwrap_or_default(),
        kind: v.kind.label(lang),
        what,
        female: text(Field::AttendanceFemale),
        male: text(Field::AttendanceMale),
        state: v.review_state.label(lang),
        conflict: !v.conflicts.is_empty() || v.delete_conflict,
        deleted: v.deleted,
    }
}

/// A field of a record as the page shows it.
struct FieldLine {
    label: &'static str,
    value: String,
}

/// A value of a conflict, with who entered it.
struct ConflictLine {
    index: usize,
    value: String,
    user: String,
    device: String,
    when: String,
}

/// A conflict of a field.
struct ConflictBlock {
    code: &'static str,
    label: &'static str,
    values: Vec<ConflictLine>,
}

/// One change of the history.
struct HistoryLine {
    when: String,
    user: String,
    device: String,
    fields: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    p: Page,
    id: RecordId,
    fields: Vec<FieldLine>,
    village: String,
    created: String,
    state: &'static str,
    comment: Option<String>,
    changed_after_approval: bool,
    deleted: bool,
    conflicts: Vec<ConflictBlock>,
    can_review: bool,
    /// The case statuses a GBV focal point may set, with the current one marked.
    case_statuses: Vec<(&'static str, &'static str, bool)>,
    history: Vec<HistoryLine>,
    done: bool,
}

/// The query of a record's page.
#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    done: Option<String>,
}

use super::local_time as when;

/// `GET /records/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    id: Result<Path<RecordId>, axum::extract::rejection::PathRejection>,
    Query(q): Query<RecordQuery>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let fail = |e: ApiError| WebError::Api(e, lang);
    let id = api::path_id(id).map_err(fail)?;
    let Json(view) = api::get_record(State(state.clone()), session.auth, Ok(Path(id))).await.map_err(fail)?;
    let Json(history) = api::actions::history(State(state.clone()), session.auth, Ok(Path(id))).await.map_err(fail)?;
    let (users, devices) =
        crate::admin::people_and_devices(&state.db, session.auth.commune).await.map_err(|e| fail(e.into()))?;
    let user = |u: Option<UserId>| u.and_then(|u| users.get(&u).cloned()).unwrap_or_else(|| "?".into());
    let device = |d: Option<DeviceId>| d.and_then(|d| devices.get(&d).cloned()).unwrap_or_else(|| "?".into());
    let villages =
        village_names(crate::admin::villages(&state.db, session.auth.commune).await.map_err(|e| fail(e.into()))?);
    let units = crate::admin::units(&state.db, session.auth.commune).await.map_err(|e| fail(e.into()))?;
    let fields = Field::of_kind(view.kind)
        .iter()
        .filter_map(|f| {
            let text = view.field_text(*f, lang)?;
            // A unit is stored as its code; people read its name.
            let value = match f {
                Field::Unit => {
                    units.iter().find(|(code, _)| *code == text.value).map_or(text.label, |(_, n)| n.clone())
                }
                _ => text.label,
            };
            Some(FieldLine { label: f.label(lang), value })
        })
        .collect();
    let conflicts = view
        .conflicts
        .iter()
        .map(|c| ConflictBlock {
            code: c.field.code(),
            label: c.field.label(lang),
            values: c
                .values
                .iter()
                .enumerate()
                .map(|(index, v)| ConflictLine {
                    index,
                    value: coded_label(c.field, &v.value, lang),
                    user: user(v.by.user),
                    device: device(v.by.device),
                    when: when(v.by.at_ms),
                })
                .collect(),
        })
        .collect();
    let history = history
        .iter()
        .rev()
        .map(|h| HistoryLine {
            when: when(h.at_ms),
            user: user(h.user),
            device: device(h.device),
            fields: h
                .changes
                .iter()
                .map(|c| Field::from_code(&c.field).map_or(c.field.clone(), |f| f.label(lang).to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let title = match view.kind {
        RecordKind::Activity => view.field_text(Field::ActivityType, lang),
        RecordKind::GbvReferral => view.field_text(Field::CaseCode, lang),
    }
    .map_or_else(|| view.kind.label(lang).to_string(), |t| t.label);
    let page = RecordPage {
        p: session.page(title, &format!("/records/{id}")),
        id,
        fields,
        village: villages.get(&view.village).cloned().unwrap_or_default(),
        created: format!("{} ({}, {})", user(view.created.user), device(view.created.device), when(view.created.at_ms)),
        state: view.review_state.label(lang),
        comment: view.review_comment.clone(),
        changed_after_approval: view.changed_after_approval,
        deleted: view.deleted,
        conflicts,
        can_review: view.review_state == ReviewState::Submitted && may_review(&session, view.kind),
        case_statuses: if view.kind == RecordKind::GbvReferral
            && session.auth.role == sotay_sync_core::Role::GbvFocalPoint
        {
            use sotay_sync_core::schema::CaseStatus;
            CaseStatus::ALL.iter().map(|c| (c.code(), c.label(lang), view.case_status == Some(*c))).collect()
        } else {
            Vec::new()
        },
        history,
        done: q.done.is_some(),
    };
    Ok(html(&page))
}

/// Whether the write rules let this person approve or return a record of this kind (the action
/// itself is checked again, in full, when it is sent).
fn may_review(session: &Session, kind: RecordKind) -> bool {
    use sotay_sync_core::rules::{Channel, Effect, Writer, permits};
    let intent = Effect { review: Some((ReviewState::Approved, None)), ..Effect::default() };
    permits(Writer { role: session.auth.role, channel: Channel::Api }, kind, &intent).is_ok()
}

/// A conflicting value as people read it: the label of a code, else the value itself.
fn coded_label(field: Field, value: &str, lang: Lang) -> String {
    use sotay_sync_core::schema::*;
    fn label<T: Coded>(value: &str, lang: Lang) -> Option<String> {
        T::from_code(value).map(|c| c.label(lang).to_string())
    }
    let known = match field {
        Field::PlanItem => label::<PlanItem>(value, lang),
        Field::ActivityType => label::<ActivityType>(value, lang),
        Field::Format => label::<Format>(value, lang),
        Field::SurvivorSex => label::<Sex>(value, lang),
        Field::SurvivorAgeGroup => label::<AgeGroup>(value, lang),
        Field::Setting => label::<Setting>(value, lang),
        Field::CaseStatus => label::<CaseStatus>(value, lang),
        Field::Review => label::<ReviewState>(value, lang),
        _ => None,
    };
    known.unwrap_or_else(|| value.to_string())
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Plain {
    csrf: String,
}

/// The return form.
#[derive(Debug, Deserialize)]
pub struct ReturnForm {
    csrf: String,
    comment: String,
}

/// The conflict form: a value chosen among the conflict's, or one entered.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    csrf: String,
    field: String,
    choice: Option<String>,
    #[serde(default)]
    value: String,
}

fn back_to(id: RecordId) -> Response {
    Redirect::to(&format!("/records/{id}?done=1")).into_response()
}

/// `POST /records/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<RecordId>,
    axum::Form(form): axum::Form<Plain>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let _approved =
        api::approve(State(state), session.auth, Ok(Path(id))).await.map_err(|e| WebError::Api(e, session.lang))?;
    Ok(back_to(id))
}

/// `POST /records/{id}/return`.
pub async fn return_record(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<RecordId>,
    axum::Form(form): axum::Form<ReturnForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let body = ReturnRequest { comment: form.comment };
    let _returned = api::return_record(State(state), session.auth, Ok(Path(id)), Ok(Json(body)))
        .await
        .map_err(|e| WebError::Api(e, session.lang))?;
    Ok(back_to(id))
}

/// The case status form.
#[derive(Debug, Deserialize)]
pub struct CaseStatusForm {
    csrf: String,
    case_status: String,
}

/// `POST /records/{id}/case-status`: a GBV focal point updates a case's status (audited by the
/// API's handler, in the same transaction).
pub async fn case_status(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<RecordId>,
    axum::Form(form): axum::Form<CaseStatusForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let body = api::CaseStatusRequest { case_status: form.case_status };
    let _updated = api::case_status(State(state), session.auth, Ok(Path(id)), Ok(Json(body)))
        .await
        .map_err(|e| WebError::Api(e, session.lang))?;
    Ok(back_to(id))
}

/// `POST /records/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<RecordId>,
    axum::Form(form): axum::Form<ResolveForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let entered = form.value.trim();
    let body = match (form.choice.as_deref().and_then(|c| c.parse::<usize>().ok()), entered) {
        (_, v) if !v.is_empty() => {
            let value = v.parse::<i64>().map_or_else(|_| serde_json::Value::from(v), serde_json::Value::from);
            ResolveRequest { field: form.field, choice: None, value: Some(value) }
        }
        (Some(choice), _) => ResolveRequest { field: form.field, choice: Some(choice), value: None },
        (None, _) => return Err(WebError::Api(ApiError::BadRequest("choose or enter a value".into()), session.lang)),
    };
    let _resolved = api::actions::resolve(State(state), session.auth, Ok(Path(id)), Ok(Json(body)))
        .await
        .map_err(|e| WebError::Api(e, session.lang))?;
    Ok(back_to(id))
}
