//! `GET /healthz` and `GET /readyz`: whether the process, and its database, answer.

use crate::api_doc::answer;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", summary = "The process is up",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", summary = "The database answers",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, response = answer::Unavailable),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.db.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok("ready")
}
