//! The write side of records, below the HTTP layer and the handler state: merging and checking
//! a push's changes ([`records`]) and the group-commit writer that owns every record write
//! ([`writer`]). `AppState` holds the writer; the sync endpoint and the web API feed it through
//! the sync module's ingest.

mod records;
mod writer;

pub(crate) use records::{Channel, Incoming, Prepared, Refused, prepare, read_pending, read_stored};
pub use writer::Writer;
pub(crate) use writer::{PendingBounds, WriteJob};
