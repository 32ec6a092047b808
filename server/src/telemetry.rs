//! Logging setup and the request id, in one place. `RUST_LOG` filters (default `info`). Every
//! line logged while a request is handled carries its request id (the `request` span of
//! `routes.rs`), and every error body names it ([`request_id`]), so a person's complaint can be
//! matched with the log. Handlers never log request bodies, record contents, secrets or tokens:
//! only ids, counts and outcomes.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::EnvFilter;

/// The header that carries the request id (set by the server when the client sent none).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber (text or JSON lines to stderr). Safe to call twice.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a journal or a file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok().filter(|id| !id.is_empty())
}

/// Middleware: makes the request's id (from [`REQUEST_ID_HEADER`]) available to
/// [`request_id`] while the request is handled.
pub async fn with_request_id(req: Request, next: Next) -> Response {
    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    REQUEST_ID.scope(id, next.run(req)).await
}
