//! The administrator's screens: the commune's villages and users (with forms to add them), its
//! reporting deadline, enrolment codes shown as text and as a QR code drawn on the server, a
//! user's devices with revocation, and the audit log searched by action. Every handler requires
//! the admin role and stays within the admin's commune; the deadline, devices and the audit log go
//! through the API's handlers.

use super::session::Session;
use super::{Page, WebError, html};
use crate::admin::{self, NewUser};
use crate::api;
use crate::auth::require;
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sotay_sync_core::{Coded, DeviceId, Lang, Role, VillageId};

fn admin_only(session: &Session) -> Result<(), WebError> {
    require(&session.auth, &[Role::Admin]).map_err(|e| WebError::Api(e, session.lang))
}

fn fail(lang: Lang) -> impl Fn(ApiError) -> WebError {
    move |e| WebError::Api(e, lang)
}

fn internal(lang: Lang) -> impl Fn(anyhow::Error) -> WebError {
    move |e| WebError::Api(ApiError::from(e), lang)
}

use super::local_time as when;

/// A user row as shown.
struct UserShown {
    username: String,
    display_name: String,
    role: &'static str,
    village: String,
    devices: i64,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    p: Page,
    villages: Vec<(String, String)>,
    units: Vec<(String, String)>,
    users: Vec<UserShown>,
    roles: Vec<(&'static str, &'static str)>,
    /// The reporting deadline: its day, and the months (number, name, the deadline's).
    deadline_day: u8,
    months: Vec<(u8, &'static str, bool)>,
}

/// `GET /admin`.
pub async fn page(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    admin_only(&session)?;
    let lang = session.lang;
    let commune = session.auth.commune;
    let villages = admin::villages(&state.db, commune).await.map_err(internal(lang))?;
    let users = crate::directory::users(&state.db, commune).await.map_err(internal(lang))?;
    let units = admin::units(&state.db, commune).await.map_err(|e| fail(lang)(e.into()))?;
    let (_, stored) = admin::commune_info(&state.db, commune).await.map_err(|e| fail(lang)(e.into()))?;
    // A value written by hand that is not a day every year has shows as the plan's, to be set again.
    let deadline = stored.parse().unwrap_or(admin::Deadline::PLAN_2026);
    let t = super::i18n::texts(lang);
    let page = AdminPage {
        p: session.page(t.admin, "/admin"),
        villages: villages.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
        units,
        users: users
            .into_iter()
            .map(|u| UserShown {
                username: u.username,
                display_name: u.display_name,
                role: u.role.label(lang),
                village: u.village.unwrap_or_default(),
                devices: u.devices,
                disabled: u.disabled,
            })
            .collect(),
        roles: Role::ALL.iter().map(|r| (r.code(), r.label(lang))).collect(),
        deadline_day: deadline.day(),
        months: (1..=12).zip(t.months).map(|(n, name)| (n, name, n == deadline.month())).collect(),
    };
    Ok(html(&page))
}

/// The reporting deadline form: a day and a month.
#[derive(Debug, Deserialize)]
pub struct DeadlineForm {
    csrf: String,
    day: String,
    month: String,
}

/// `POST /admin/deadline`: the day of the year completeness judges lateness against, through
/// `PUT /api/v1/admin/report-deadline` (admins; a day that is not in every year is refused).
pub async fn set_deadline(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<DeadlineForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let deadline = format!("{}-{}", form.month.trim(), form.day.trim());
    let body = Ok(Json(api::DeadlineRequest { deadline }));
    let _set = api::set_report_deadline(State(state), session.auth, body).await.map_err(fail(session.lang))?;
    Ok(Redirect::to("/admin").into_response())
}

/// The new village form.
#[derive(Debug, Deserialize)]
pub struct VillageForm {
    csrf: String,
    name: String,
}

/// `POST /admin/villages`.
pub async fn create_village(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<VillageForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    admin_only(&session)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::Api(ApiError::BadRequest("a village name is 1 to 100 characters".into()), session.lang));
    }
    admin::create_village(&state.db, session.auth.commune, name).await.map_err(internal(session.lang))?;
    Ok(Redirect::to("/admin").into_response())
}

/// The new unit form.
#[derive(Debug, Deserialize)]
pub struct UnitForm {
    csrf: String,
    code: String,
    name: String,
}

/// `POST /admin/units`: an organising unit (its code is what records carry).
pub async fn create_unit(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<UnitForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    admin_only(&session)?;
    let (code, name) = (form.code.trim(), form.name.trim());
    let code_ok =
        !code.is_empty() && code.len() <= 32 && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !code_ok || name.is_empty() || name.chars().count() > 100 {
        let why = "a unit has a code of 1 to 32 lower-case letters or digits and a name of 1 to 100 characters";
        return Err(WebError::Api(ApiError::BadRequest(why.into()), session.lang));
    }
    admin::create_unit(&state.db, session.auth.commune, code, name).await.map_err(internal(session.lang))?;
    Ok(Redirect::to("/admin").into_response())
}

/// The new user form.
#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: String,
    username: String,
    display_name: String,
    role: String,
    #[serde(default)]
    village: String,
}

/// `POST /admin/users`: a new account in the admin's commune (a collaborator needs a village of
/// that commune).
pub async fn create_user(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<UserForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    admin_only(&session)?;
    let lang = session.lang;
    let bad = |m: &str| WebError::Api(ApiError::BadRequest(m.into()), lang);
    let role = Role::from_code(&form.role).ok_or_else(|| bad("unknown role"))?;
    let username = form.username.trim();
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-';
    if username.is_empty() || username.len() > 64 || !username.chars().all(valid) {
        return Err(bad("a user name is 1 to 64 letters, digits, dots, dashes or underscores"));
    }
    let commune = session.auth.commune;
    let villages = admin::villages(&state.db, commune).await.map_err(internal(lang))?;
    let village = match form.village.trim() {
        "" => None,
        v => Some(
            v.parse::<VillageId>()
                .ok()
                .filter(|id| villages.iter().any(|(known, _)| known == id))
                .ok_or_else(|| bad("the village is not one of this commune's"))?,
        ),
    };
    if (role == Role::Collaborator) != village.is_some() {
        return Err(bad("a collaborator, and only a collaborator, belongs to a village"));
    }
    let display = form.display_name.trim();
    let user =
        NewUser { username, display_name: if display.is_empty() { username } else { display }, role, commune, village };
    // User names are unique over the whole server.
    if admin::user_by_name(&state.db, username).await.is_ok() {
        return Err(WebError::Api(ApiError::Conflict("the user name is taken".into()), lang));
    }
    admin::create_user(&state.db, user).await.map_err(internal(lang))?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Template)]
#[template(path = "enrolment.html")]
struct EnrolmentPage {
    p: Page,
    username: String,
    code: String,
    qr: String,
}

/// `POST /admin/users/{username}/enrolment-code`: a one-time code for a new phone, shown once, as
/// text and as a QR code the phone's camera reads.
pub async fn enrolment_code(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
    axum::Form(form): axum::Form<super::session::CsrfOnly>,
) -> Result<Response, WebError> {
    session.check_csrf(form.csrf())?;
    admin_only(&session)?;
    let lang = session.lang;
    let user = api::admin_user_in_commune(&state, &session.auth, &username).await.map_err(fail(lang))?;
    let code = admin::issue_enrolment_code(&state.db, user, 7 * 24 * 3600).await.map_err(internal(lang))?;
    let qr = super::qr::svg(&code).ok_or_else(|| WebError::Api(ApiError::Internal(anyhow::anyhow!("QR")), lang))?;
    let t = super::i18n::texts(lang);
    let page = EnrolmentPage { p: session.page(t.enrolment_code, "/admin"), username, code, qr };
    Ok(html(&page))
}

/// A device as shown.
struct DeviceShown {
    id: DeviceId,
    name: String,
    enrolled: String,
    last_seen: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    p: Page,
    username: String,
    devices: Vec<DeviceShown>,
}

/// `GET /admin/users/{username}/devices`.
pub async fn devices(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Response, WebError> {
    let lang = session.lang;
    let Json(list) = api::user_devices(State(state), session.auth, Path(username.clone())).await.map_err(fail(lang))?;
    let devices = list
        .into_iter()
        .map(|d| DeviceShown {
            id: d.id,
            name: d.name,
            enrolled: when(d.enrolled_at),
            last_seen: d.last_seen_at.map(when).unwrap_or_default(),
            revoked: d.revoked_at.map(when),
        })
        .collect();
    let t = super::i18n::texts(lang);
    let page = DevicesPage {
        p: session.page(format!("{} · {username}", t.devices), &format!("/admin/users/{username}/devices")),
        username,
        devices,
    };
    Ok(html(&page))
}

/// The revoke form (it names the user, to come back to their devices).
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
    username: String,
}

/// `POST /admin/devices/{id}/revoke`: the phone is told to wipe its GBV data on its next contact.
pub async fn revoke(
    State(state): State<AppState>,
    session: Session,
    device: Result<Path<DeviceId>, axum::extract::rejection::PathRejection>,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let _revoked = api::revoke_device(State(state), session.auth, device).await.map_err(fail(session.lang))?;
    Ok(Redirect::to(&format!("/admin/users/{}/devices", super::url_encode(&form.username))).into_response())
}

/// The audit log's filters.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    action: String,
    before: Option<i64>,
}

/// An audit entry as shown.
struct EntryShown {
    when: String,
    user: String,
    action: String,
    record: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    p: Page,
    action: String,
    actions: Vec<&'static str>,
    entries: Vec<EntryShown>,
    older: Option<String>,
}

/// `GET /admin/audit`: the commune's audit log, newest first, filtered by action.
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, WebError> {
    admin_only(&session)?;
    let lang = session.lang;
    let action = filter.action.trim().to_string();
    let page = crate::directory::audit_search(&state.db, session.auth.commune, &action, filter.before, 100)
        .await
        .map_err(internal(lang))?;
    let older = page.next_cursor.map(|c| format!("/admin/audit?action={}&before={c}", super::url_encode(&action)));
    let t = super::i18n::texts(lang);
    let shown = AuditPage {
        p: session.page(t.audit_log, "/admin/audit"),
        actions: vec![
            "gbv.",
            "login.",
            "record.",
            "user.",
            "device.",
            "enrolment_code.",
            "commune.",
            "database.",
            "key.",
        ],
        action,
        entries: page
            .entries
            .into_iter()
            .map(|e| EntryShown {
                when: when(e.at),
                user: e.user.unwrap_or_default(),
                action: e.action,
                record: e.record.unwrap_or_default(),
                detail: e.detail,
            })
            .collect(),
        older,
    };
    Ok(html(&shown))
}
