//! `ApiError`: every error an HTTP handler can return, and the only place that knows HTTP
//! status codes. Each variant documents its status; the body is always
//! `{"error": "<stable code>", "message": "<human text>", "request_id": "<id>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad wire body, bad JSON, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials (missing, expired or forged token; wrong device secret).
    #[error("authentication required")]
    Unauthorized,
    /// 403: the device was revoked; the app must wipe its local GBV data.
    #[error("this device has been revoked; wipe local GBV data")]
    DeviceRevoked,
    /// 403: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// 409: the request conflicts with the current state (e.g. a used enrolment code).
    #[error("{0}")]
    Conflict(String),
    /// 408: the request body did not arrive in time (too slow a sender).
    #[error("the request took too long to arrive; try again on a better connection")]
    Timeout,
    /// 413: the body or a batch is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// 422: well-formed but unacceptable content (e.g. a change that is not a valid record change).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: too many attempts; retry later.
    #[error("too many attempts; retry in {0} s")]
    TooManyRequests(u64),
    /// 500: a bug or a storage failure. Details go to the log, never to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// 503 with `Retry-After`: the server is busy (its database, its request, connection,
    /// memory or password-hashing capacity) or shutting down. Nothing was changed; retry.
    #[error("the server is busy; nothing was changed, try again in a few seconds")]
    Unavailable,
}

/// Seconds a client is asked to wait after a 503.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    wipe_gbv: bool,
    /// The request's id, as in the `X-Request-Id` header and on every log line of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::DeviceRevoked | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::DeviceRevoked => "device_revoked",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Timeout => "timeout",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable => "unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
        let status = self.status();
        let body = Body {
            error: self.code(),
            message: one_short_line(self.to_string()),
            wipe_gbv: matches!(self, ApiError::DeviceRevoked),
            request_id: crate::telemetry::request_id(),
        };
        let mut resp = (status, Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests(secs) => Some(secs),
            ApiError::Unavailable => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|secs| secs.to_string().parse().ok()) {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_transient(&e) { ApiError::Unavailable } else { ApiError::Internal(e.into()) }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        // A busy or unreachable database behind a domain function is still a 503.
        match e.downcast_ref::<sqlx::Error>() {
            Some(db) if crate::db::is_transient(db) => ApiError::Unavailable,
            _ => ApiError::Internal(e),
        }
    }
}

/// Maps a rejected body or query (axum's extractor errors) to our error shape: one sentence
/// without the library's own wording (found by the `json_bodies` fuzz target, which also found it
/// quoting a 10 KB value whole; [`one_short_line`] bounds every message now).
pub fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge(text);
    }
    // axum says "Failed to …: <what serde said>"; what serde said is the useful part.
    let detail = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("Failed to") => rest,
        _ => text.as_str(),
    };
    ApiError::BadRequest(format!("the request is not in the expected form ({detail}); /openapi.json describes it"))
}

/// At most this many characters of a message reach a client.
pub const MAX_MESSAGE_CHARS: usize = 240;

/// A message as a client receives it: one line, and short whatever it quotes (a message that
/// quotes a parameter or a field code quotes an excerpt of what was sent, not all of it).
fn one_short_line(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS && !message.chars().any(char::is_control) {
        return message;
    }
    let mut line: String =
        message.chars().take(MAX_MESSAGE_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reaches_the_client_as_one_short_line() {
        let echoed = format!("month {:?} is not YYYY-MM", "2026\u{1a}".repeat(3000));
        let line = one_short_line(echoed);
        assert_eq!(line.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(line.ends_with('…') && !line.chars().any(char::is_control));
        assert_eq!(one_short_line("not found".into()), "not found");
        assert_eq!(one_short_line("two\nlines".into()), "two lines");
    }
}
