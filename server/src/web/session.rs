//! Web sessions: the login form (the same Argon2id check and throttling as the JSON login), an
//! HttpOnly SameSite=Strict cookie holding a random token (Secure behind an HTTPS proxy), a
//! server-side row holding only the token's hash (table `web_sessions`), idle expiry, logout, and
//! the CSRF token every form carries. A session acts as the person's web device, so the access
//! policy and the write rules see the same `AuthDevice` as through the API, and revoking that
//! device or disabling the person ends the session.

use super::{Page, WebError, WithStatus};
use crate::auth::{AuthDevice, constant_time_eq, hash_secret, load_device};
use crate::error::ApiError;
use crate::listener::Https;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sotay_sync_core::{DeviceId, Lang, UserId};
use sqlx::Row;
use std::net::SocketAddr;

/// The session cookie.
pub const SESSION_COOKIE: &str = "sotay_session";
/// The language cookie (a preference, not a secret: readable by no script all the same).
pub const LANG_COOKIE: &str = "sotay_lang";
/// Only so often is a session's last use written (a write per page would serialise SQLite).
const TOUCH_EVERY_MS: i64 = 60_000;

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language the person chose (cookie), Vietnamese by default.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE) {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    }
}

/// A signed-in person: their web device as the API sees it, the form token, and their language.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who and what they may do (the access policy and the write rules read this).
    pub auth: AuthDevice,
    /// Their user name, for the page header.
    pub username: String,
    /// The token every form of theirs must send back.
    pub csrf: String,
    /// Their language.
    pub lang: Lang,
}

impl Session {
    /// The frame of a page for this person.
    pub fn page(&self, title: impl Into<String>, path: &str) -> Page {
        Page::new(self.lang, title, path, Some(self))
    }

    /// Checks a form's CSRF token (403 in the person's words if it is not this session's).
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) { Ok(()) } else { Err(WebError::Csrf(self.lang)) }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let lang = lang_of(&parts.headers);
        let to_login = || WebError::SignIn(parts.uri.path_and_query().map_or("/".into(), |p| p.as_str().to_string()));
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let now = crate::now_ms();
        let row = sqlx::query(
            "SELECT s.user_id, s.device_id, s.csrf, s.last_seen_at, u.username
             FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(hash_secret(token))
        .fetch_optional(&state.db.read)
        .await
        .map_err(|e| WebError::Api(ApiError::from(e), lang))?;
        let Some(row) = row else { return Err(to_login()) };
        let idle_ms = i64::from(state.limits.web_idle_minutes) * 60_000;
        let last_seen: i64 = row.get(3);
        if now - last_seen > idle_ms {
            close(state, token).await.map_err(|e| WebError::Api(e, lang))?;
            return Err(to_login());
        }
        let ids = UserId::from_slice(&row.get::<Vec<u8>, _>(0)).zip(DeviceId::from_slice(&row.get::<Vec<u8>, _>(1)));
        let Some((user, device)) = ids else { return Err(to_login()) };
        let auth = match load_device(&state.db, user, device).await {
            Ok(auth) => auth,
            Err(ApiError::Unauthorized | ApiError::DeviceRevoked) => return Err(to_login()),
            Err(e) => return Err(WebError::Api(e, lang)),
        };
        if now - last_seen > TOUCH_EVERY_MS {
            let touched = sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash_secret(token))
                .execute(&state.db.write)
                .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, "could not record a session's last use");
            }
        }
        Ok(Session { auth, username: row.get(4), csrf: row.get(2), lang })
    }
}

/// Opens a session for a person who just proved their password; returns the cookie's token.
async fn open(state: &AppState, user: UserId, device: DeviceId) -> Result<String, ApiError> {
    let token = crate::auth::new_device_secret();
    let csrf = crate::auth::new_device_secret();
    let now = crate::now_ms();
    let mut tx = state.db.begin_write().await?;
    // Sessions idle past the limit are dropped as new ones open (no timer needed).
    let idle_ms = i64::from(state.limits.web_idle_minutes) * 60_000;
    sqlx::query("DELETE FROM web_sessions WHERE last_seen_at < $1").bind(now - idle_ms).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, device_id, user_id, csrf, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(hash_secret(&token))
    .bind(device.as_bytes().as_slice())
    .bind(user.as_bytes().as_slice())
    .bind(&csrf)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Ends the session of this token.
async fn close(state: &AppState, token: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(hash_secret(token))
        .execute(&state.db.write)
        .await?;
    Ok(())
}

fn session_cookie(value: &str, https: bool, max_age: Option<u32>) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let text = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("sotay_session=; Max-Age=0"))
}

/// Where to go after signing in: a path of this site only (never another host).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") => p.to_string(),
        _ => "/".to_string(),
    }
}

/// The query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    ended: Option<String>,
}

/// `GET /login`.
pub async fn login_page(headers: HeaderMap, q: axum::extract::Query<LoginQuery>) -> Response {
    let lang = lang_of(&headers);
    let notice = q.ended.as_ref().map(|_| super::i18n::texts(lang).session_ended);
    super::pages::login(lang, &local_path(q.next.as_deref()), None, notice)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: signs in and goes where the person was going.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    parts: Parts,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let lang = lang_of(&parts.headers);
    let next = local_path(form.next.as_deref());
    let texts = super::i18n::texts(lang);
    match crate::login::password_login(&state, addr, &form.username, form.password).await {
        Ok((user, device)) => match open(&state, user, device).await {
            Ok(token) => {
                let https = parts.extensions.get::<Https>().is_some_and(|h| h.0);
                let mut resp = Redirect::to(&next).into_response();
                resp.headers_mut().insert(SET_COOKIE, session_cookie(&token, https, None));
                resp
            }
            Err(e) => WebError::Api(e, lang).into_response(),
        },
        Err(ApiError::Unauthorized) => {
            super::pages::login(lang, &next, Some(texts.login_failed), None).into_response_with(401)
        }
        Err(e) => {
            let sentence = super::i18n::error_sentence(e.code(), lang);
            super::pages::login(lang, &next, Some(sentence), None).into_response_with(e.status().as_u16())
        }
    }
}

/// A form with only its CSRF token (logout, and actions without fields).
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

impl CsrfOnly {
    /// The token sent.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        close(&state, token).await.map_err(|e| WebError::Api(e, session.lang))?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(SET_COOKIE, session_cookie("", false, Some(0)));
    Ok(resp)
}

/// `GET /lang/{code}?back=/path`: remembers the language for a year and goes back.
pub async fn set_lang(
    axum::extract::Path(code): axum::extract::Path<String>,
    q: axum::extract::Query<BackQuery>,
) -> Response {
    let code = if code == "en" { "en" } else { "vi" };
    let mut resp = Redirect::to(&local_path(q.back.as_deref())).into_response();
    if let Ok(v) =
        HeaderValue::from_str(&format!("{LANG_COOKIE}={code}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly"))
    {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

/// Where a link goes back to.
#[derive(Debug, Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/records?kind=activity")), "/records?kind=activity");
        for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example", "records"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; sotay_lang=en; sotay_session=xyz"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(lang_of(&h), Lang::En);
    }
}
