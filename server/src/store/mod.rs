//! Records in the database, below the HTTP layer and the handler state: merging and checking a
//! push's changes ([`records`]), the group-commit writer that owns every record write
//! ([`writer`]), the pull and provisioning pages of sync ([`pull`]), and purging the history of
//! GBV referrals ([`purge`]). `AppState` holds the writer; the sync endpoint and the web API feed it through
//! the sync module's ingest.

pub mod epoch;
mod pull;
mod purge;
mod records;
mod writer;

pub(crate) use pull::{provision_page, pull, remember_scope};
pub use purge::{EXPIRED_CASES, Purged, purge_expired, purge_history};
pub(crate) use records::{Channel, Incoming, Prepared, Refused, prepare, read_pending, read_stored};
pub(crate) use records::{PendingBounds, WriteJob};
pub use writer::{Writer, WriterOptions, log_lock_key};
