//! The work queues (`GET /queues`): records with a conflict, records waiting for review, and
//! suspected duplicates side by side with a per-field choice to merge them, or a dismissal. The
//! lists come from the API's handlers with the session's device; the merge and the dismissal are
//! the API's too.

use super::session::Session;
use super::{Page, WebError, html};
use crate::api::{self, actions};
use crate::records;
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use sotay_sync_core::{Coded, Field, Lang, RecordId, RecordKind, RecordView, ReviewState, Role, VillageId};
use std::collections::HashMap;

/// Most records listed in each queue (the records list pages through the rest).
const SHOWN: i64 = 100;
/// Suspected pairs shown at once, each with its comparison (a page stays small); the next ones
/// come as these are merged or dismissed.
const PAIRS_SHOWN: usize = 10;

/// A record in a queue.
struct Item {
    id: RecordId,
    label: String,
}

/// A field of a suspected pair.
struct PairField {
    code: &'static str,
    label: &'static str,
    first: String,
    second: String,
    differs: bool,
}

/// A suspected pair.
struct PairShown {
    first: RecordId,
    second: RecordId,
    fields: Vec<PairField>,
}

#[derive(Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    p: Page,
    conflicts: Vec<Item>,
    waiting: Vec<Item>,
    pairs: Option<Vec<PairShown>>,
    pairs_waiting: usize,
}

fn item(v: &RecordView, villages: &HashMap<VillageId, String>, lang: Lang) -> Item {
    let text = |f: Field| v.field_text(f, lang).map(|t| t.label).unwrap_or_default();
    let (date, what) = match v.kind {
        RecordKind::Activity => (text(Field::HeldOn), text(Field::ActivityType)),
        RecordKind::GbvReferral => (text(Field::ReportedOn), text(Field::CaseCode)),
    };
    let village = villages.get(&v.village).cloned().unwrap_or_default();
    Item { id: v.id, label: format!("{date} · {village} · {what}") }
}

/// `GET /queues`.
pub async fn page(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let lang = session.lang;
    let fail = |e| WebError::Api(e, lang);
    let auth = &session.auth;
    let villages: HashMap<VillageId, String> =
        crate::admin::villages(&state.db, auth.commune).await.map_err(|e| fail(e.into()))?.into_iter().collect();
    let conflicted = records::Page { conflicted: true, limit: SHOWN, ..Default::default() };
    let conflicts = api::readable_page(&state, auth, conflicted).await.map_err(fail)?;
    let submitted = records::Page { review: Some(ReviewState::Submitted), limit: SHOWN, ..Default::default() };
    let waiting = api::readable_page(&state, auth, submitted).await.map_err(fail)?;
    let mut pairs_waiting = 0;
    let pairs = if auth.role == Role::Reviewer {
        let Json(pairs) = actions::duplicate_queue(State(state.clone()), *auth).await.map_err(fail)?;
        pairs_waiting = pairs.len();
        Some(
            pairs
                .iter()
                .take(PAIRS_SHOWN)
                .map(|p| PairShown {
                    first: p.first.id,
                    second: p.second.id,
                    fields: Field::of_kind(RecordKind::Activity)
                        .iter()
                        .map(|f| {
                            let first = p.first.field_text(*f, lang).map(|t| t.label).unwrap_or_default();
                            let second = p.second.field_text(*f, lang).map(|t| t.label).unwrap_or_default();
                            PairField { code: f.code(), label: f.label(lang), differs: first != second, first, second }
                        })
                        .collect(),
                })
                .collect(),
        )
    } else {
        None
    };
    let t = super::i18n::texts(lang);
    let page = QueuesPage {
        p: session.page(t.queues, "/queues"),
        conflicts: conflicts.iter().map(|v| item(v, &villages, lang)).collect(),
        waiting: waiting.iter().map(|v| item(v, &villages, lang)).collect(),
        pairs,
        pairs_waiting,
    };
    Ok(html(&page))
}

/// The pair a merge or dismiss form names, once its CSRF token is checked.
fn pair_form(session: &Session, form: &[(String, String)]) -> Result<(RecordId, RecordId), WebError> {
    let get = |k: &str| form.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    session.check_csrf(get("csrf"))?;
    let bad = || WebError::Api(crate::error::ApiError::BadRequest("the pair is not valid".into()), session.lang);
    Ok((get("first").parse().map_err(|_| bad())?, get("second").parse().map_err(|_| bad())?))
}

/// The merge form: the pair, and for each field that differs, whose value to keep.
pub async fn merge(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let (first, second) = pair_form(&session, &form)?;
    let take: Vec<String> =
        form.iter().filter(|(k, v)| k.starts_with("f_") && v == "second").map(|(k, _)| k[2..].to_string()).collect();
    let body = actions::MergeRequest { keep: first, drop: second, take };
    let _kept = actions::merge(State(state), session.auth, Ok(Json(body))).await.map_err(|e| WebError::Api(e, lang))?;
    Ok(Redirect::to(&format!("/records/{first}?done=1")).into_response())
}

/// The dismiss form: the pair is not a duplicate.
pub async fn dismiss(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let (first, second) = pair_form(&session, &form)?;
    let body = actions::DismissRequest { first, second };
    let _done =
        actions::dismiss(State(state), session.auth, Ok(Json(body))).await.map_err(|e| WebError::Api(e, lang))?;
    Ok(Redirect::to("/queues").into_response())
}
