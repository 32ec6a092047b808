//! The pages without a screen of their own: the login form and the error page.

use super::{Page, html_with};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use sotay_sync_core::Lang;

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    p: Page,
    next: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

/// The login form, with an error or a notice when there is one.
pub fn login(lang: Lang, next: &str, error: Option<&str>, notice: Option<&str>) -> Response {
    let title = super::i18n::texts(lang).login_title;
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    html_with(&Login { p: Page::new(lang, title, "/login", None), next, error, notice }, status)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    p: Page,
    sentence: &'static str,
}

/// An error as a page: one sentence in the person's language, by the error's code.
pub fn error(lang: Lang, status: StatusCode, code: &str) -> Response {
    let t = super::i18n::texts(lang);
    let sentence = super::i18n::error_sentence(code, lang);
    html_with(&ErrorPage { p: Page::new(lang, t.error_title, "/", None), sentence }, status)
}
