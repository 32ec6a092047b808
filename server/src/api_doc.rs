//! The pieces of the API's description that the handlers' `#[utoipa::path]` annotations name:
//! the binary body, the `Error` body with its stable codes, and one reusable answer per error
//! status. A leaf: handlers import it, and `openapi` assembles the document from the handlers, so
//! the description has no import circle.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

/// A binary body (`body = inline(Binary)`): the sync messages, an XLSX file.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// The stable code of an error answer (`ApiError::code`), one per kind of refusal.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed (bad body, bad JSON, bad parameter).
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: the device was revoked; `wipe_gbv` is true.
    DeviceRevoked,
    /// 403: authenticated, but not allowed to do this.
    Forbidden,
    /// 404: no such thing, or not visible to the caller.
    NotFound,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 408: the request body did not arrive in time.
    Timeout,
    /// 413: the body or a batch is over a limit.
    TooLarge,
    /// 422: well-formed but unacceptable content.
    Unprocessable,
    /// 429: too many attempts; `Retry-After` says when to try again.
    TooManyRequests,
    /// 500: a fault, logged with the request id, never detailed in the answer.
    Internal,
    /// 503: the server is busy; nothing was changed; `Retry-After` says when to try again.
    Unavailable,
}

/// The body of every error answer (`crate::error`).
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The stable, machine-readable code.
    pub error: ErrorCode,
    /// Human text (English); never details of an internal fault.
    pub message: String,
    /// Present and true with `device_revoked`: the app must wipe its local GBV data.
    pub wipe_gbv: Option<bool>,
    /// The `X-Request-Id` of the request (also an answer header), to quote when reporting a problem.
    pub request_id: Option<String>,
}

/// The reusable error answers, one per status, all with the [`ErrorBody`] (named after the
/// variants of `ApiError`). Handlers list them as `(status = 404, response = answer::NotFound)`.
pub mod answer {
    use super::ErrorBody;

    /// `bad_request`: the request is malformed (bad body, bad JSON, bad parameter).
    #[derive(utoipa::ToResponse)]
    pub struct BadRequest(pub ErrorBody);

    /// `unauthorized`: no valid credentials (missing, expired or forged token, wrong secret or code).
    #[derive(utoipa::ToResponse)]
    pub struct Unauthorized(pub ErrorBody);

    /// `forbidden`: the role may not do this; or `device_revoked` (with `wipe_gbv`: true).
    #[derive(utoipa::ToResponse)]
    pub struct Forbidden(pub ErrorBody);

    /// `not_found`: no such thing, or one the caller may not see.
    #[derive(utoipa::ToResponse)]
    pub struct NotFound(pub ErrorBody);

    /// `conflict`: the request conflicts with the current state (a used code, a review transition
    /// that is not allowed, a deleted record).
    #[derive(utoipa::ToResponse)]
    pub struct Conflict(pub ErrorBody);

    /// `timeout`: the request body did not arrive in time; try again on a better connection.
    #[derive(utoipa::ToResponse)]
    pub struct Timeout(pub ErrorBody);

    /// `too_large`: the body, or a batch in it, is over a limit.
    #[derive(utoipa::ToResponse)]
    pub struct TooLarge(pub ErrorBody);

    /// `unprocessable`: well-formed but unacceptable (the write rules refuse the change, a
    /// value of the wrong kind, nothing to change).
    #[derive(utoipa::ToResponse)]
    pub struct Unprocessable(pub ErrorBody);

    /// `too_many_requests`: too many failed attempts from this address or for this account.
    #[derive(utoipa::ToResponse)]
    #[response(headers(("Retry-After" = u64, description = "seconds to wait before trying again")))]
    pub struct TooManyRequests(pub ErrorBody);

    /// `internal`: a fault, logged with the request id, never detailed in the answer.
    #[derive(utoipa::ToResponse)]
    pub struct Internal(pub ErrorBody);

    /// `unavailable`: the server is busy (database, requests, connections, memory, password
    /// hashing) or shutting down. Nothing was changed; retry after `Retry-After` seconds.
    #[derive(utoipa::ToResponse)]
    #[response(headers(("Retry-After" = u64, description = "seconds to wait before trying again")))]
    pub struct Unavailable(pub ErrorBody);
}
