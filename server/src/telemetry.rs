//! Logging setup, in one place. `RUST_LOG` filters (default `info`). Handlers never log request
//! bodies, record contents, secrets or tokens: only ids, counts and outcomes.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (text or JSON lines to stderr). Safe to call twice.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
