//! The commune's web app: server-rendered HTML (askama templates under `server/templates/`,
//! checked at compile time), a stylesheet and a small script built into the binary, sessions
//! (`session`), and one module per screen. Pages work without JavaScript; the script only adds
//! conveniences. Every page and form acts as the signed-in person's web device through the same
//! domain services and handlers as the JSON API, so the access policy and the write rules apply
//! unchanged; nothing here decides who may do what.
//!
//! Security: a Content-Security-Policy without inline scripts or styles, no framing, forms
//! protected by a per-session CSRF token and an Origin check, session cookies HttpOnly and
//! SameSite=Strict.

pub mod admin;
pub mod chart;
pub mod dashboard;
pub mod i18n;
pub mod pages;
pub mod qr;
pub mod queues;
pub mod records;
pub mod reports;
pub mod session;

use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use i18n::Texts;
use session::Session;
use sotay_sync_core::{Coded, Lang, Role};

/// Every page and form of the web app: (method, path, handler). The authorization matrix test
/// walks this table as it walks the API's.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("GET", "/", get(dashboard::page)),
        ("GET", "/login", get(session::login_page)),
        ("POST", "/login", post(session::login)),
        ("POST", "/logout", post(session::logout)),
        ("GET", "/lang/{code}", get(session::set_lang)),
        ("GET", "/records", get(records::list)),
        ("GET", "/records/{id}", get(records::page)),
        ("POST", "/records/{id}/approve", post(records::approve)),
        ("POST", "/records/{id}/return", post(records::return_record)),
        ("POST", "/records/{id}/resolve", post(records::resolve)),
        ("POST", "/records/{id}/case-status", post(records::case_status)),
        ("GET", "/queues", get(queues::page)),
        ("POST", "/duplicates/merge", post(queues::merge)),
        ("POST", "/duplicates/dismiss", post(queues::dismiss)),
        ("GET", "/reports", get(reports::page)),
        ("GET", "/reports/export", get(reports::export)),
        ("GET", "/admin", get(admin::page)),
        ("POST", "/admin/villages", post(admin::create_village)),
        ("POST", "/admin/units", post(admin::create_unit)),
        ("POST", "/admin/users", post(admin::create_user)),
        ("POST", "/admin/deadline", post(admin::set_deadline)),
        ("POST", "/admin/users/{username}/enrolment-code", post(admin::enrolment_code)),
        ("GET", "/admin/users/{username}/devices", get(admin::devices)),
        ("POST", "/admin/devices/{id}/revoke", post(admin::revoke)),
        ("GET", "/admin/audit", get(admin::audit)),
        ("GET", "/static/app.css", get(stylesheet)),
        ("GET", "/static/app.js", get(script)),
    ]
}

/// Headers of every web answer: what the browser may load and run (only this site's own files:
/// no inline script or style), no framing, no sniffing, no referrer to other sites, and pages
/// never cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    // Same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on forms.
    set(h, "referrer-policy", "same-origin");
    if !is_asset && !h.contains_key(CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

/// Middleware: every form posted to the web app must come from this site ([`same_origin`]).
pub async fn forms_from_this_site(req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::POST
        && let Err(e) = same_origin(req.headers())
    {
        return e.into_response();
    }
    next.run(req).await
}

/// Refuses a form posted from another site: its `Origin`, when the browser sends one, must be this
/// host (SameSite=Strict already keeps the session cookie off such requests).
pub fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    if !host.is_empty() && origin_host == host { Ok(()) } else { Err(WebError::Csrf(session::lang_of(headers))) }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): to the login page, then back to this path.
    SignIn(String),
    /// A form without this session's token, or from another site.
    Csrf(Lang),
    /// What the API would have answered, shown as a page in the person's language.
    Api(ApiError, Lang),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(next) => {
                let next: String = url_encode(&next);
                Redirect::to(&format!("/login?next={next}&ended=1")).into_response()
            }
            WebError::Csrf(lang) => pages::error(lang, StatusCode::FORBIDDEN, "csrf"),
            WebError::Api(e, lang) => {
                if let ApiError::Internal(inner) = &e {
                    tracing::error!(error = %format!("{inner:#}"), "internal error");
                }
                pages::error(lang, e.status(), e.code())
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A time as people in Vietnam read it ("03/12/2026 14:05"); empty for no time.
pub fn local_time(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    let local = ms + crate::reports::VIETNAM_OFFSET_MS;
    let d = sotay_sync_core::Date::from_unix_ms(local);
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!("{:02}/{:02}/{} {:02}:{:02}", d.day, d.month, d.year, minutes / 60, minutes % 60)
}

/// A link of the main menu.
#[derive(Debug)]
pub struct NavItem {
    /// Where it goes.
    pub href: &'static str,
    /// Its text.
    pub label: &'static str,
    /// It is the page shown.
    pub current: bool,
}

/// The frame every page shares: language, title, who is signed in, the menu and the form token.
#[derive(Debug)]
pub struct Page {
    /// The texts of the person's language.
    pub t: &'static Texts,
    /// The language.
    pub lang: Lang,
    /// The page's title.
    pub title: String,
    /// This page's path and query, for the language switch to come back to.
    pub back: String,
    /// The signed-in person's name and role label.
    pub user: Option<(String, &'static str)>,
    /// The CSRF token for the page's forms.
    pub csrf: String,
    /// The main menu.
    pub nav: Vec<NavItem>,
}

impl Page {
    /// The frame for `path`, for a signed-in person or (login, errors) nobody.
    pub fn new(lang: Lang, title: impl Into<String>, path: &str, session: Option<&Session>) -> Page {
        let t = i18n::texts(lang);
        let nav = session.map_or_else(Vec::new, |s| {
            let role = s.auth.role;
            let mut items: Vec<(&'static str, &'static str)> = Vec::new();
            if role != Role::Admin {
                items.extend([("/", t.dashboard), ("/records", t.records)]);
            }
            if matches!(role, Role::Reviewer | Role::GbvFocalPoint) {
                items.extend([("/queues", t.queues), ("/reports", t.reports)]);
            }
            if role == Role::GbvFocalPoint {
                items.push(("/records?kind=gbv_referral", t.cases));
            }
            if role == Role::Admin {
                items.extend([("/admin", t.admin), ("/admin/audit", t.audit_log)]);
            }
            let section = path.split('?').next().unwrap_or("/");
            items
                .into_iter()
                .map(|(href, label)| NavItem { href, label, current: href == section || href == path })
                .collect()
        });
        Page {
            t,
            lang,
            title: title.into(),
            back: url_encode(path),
            user: session.map(|s| (s.username.clone(), s.auth.role.label(lang))),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            nav,
        }
    }
}

/// A rendered template as an HTML answer (a template that fails to render is a bug: 500).
pub fn html(template: &impl Template) -> Response {
    html_with(template, StatusCode::OK)
}

/// [`html`] with another status.
pub fn html_with(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A response with a status, for the login page's answers.
pub trait WithStatus {
    /// This response with `status`.
    fn into_response_with(self, status: u16) -> Response;
}

impl WithStatus for Response {
    fn into_response_with(mut self, status: u16) -> Response {
        *self.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../assets/app.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../assets/app.js"),
    )
}
