//! Sổ Tay sync core: records as Automerge documents, their schema, validation and merge rules,
//! the sync wire format, and the device side of sync.
//!
//! This crate is shared by the server, the `sotay` command-line device and the mobile bindings.
//! It is pure: no clocks, no randomness of its own beyond Automerge's, no files, no sockets, no
//! async runtime. Callers hand in the time, the ids and a [`device::DeviceStore`].

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod device;
pub mod field;
pub mod field_error;
pub mod guard;
pub mod ids;
pub mod inspect;
pub mod protocol;
pub mod record;
pub mod rules;
pub mod sample;
pub mod schema;
pub mod validate;
pub mod wire;

pub use field::{Edit, Field, GeoPoint, MergeKind};
pub use ids::{CommuneId, Date, DeviceId, RecordId, UserId, VillageId};
pub use record::{
    Attribution, Conflict, ConflictValue, Editor, FieldChange, FieldText, HistoryEntry, Record, RecordError,
    RecordView, SCHEMA_VERSION,
};
pub use schema::{Coded, Lang, RecordKind, ReviewState, Role};
pub use validate::{Rule, ValidationError, validate};
