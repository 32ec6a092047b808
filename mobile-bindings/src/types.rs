//! The records an app receives and sends through the bindings, and their conversions from the
//! device's types: flat, string-coded, with labels already in the person's language.

use sotay_client::store::{HomeCounts, RecordQuery};
use sotay_sync_core::schema::{Coded, Lang, RecordKind, ReviewState};
use sotay_sync_core::{Date, Field, HistoryEntry, RecordView};

/// Settings of a phone.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PhoneConfig {
    /// `vi` (default) or `en`: the language of messages and labels.
    pub lang: String,
    /// Allow a plain-HTTP server that is not this device (a LAN server without TLS).
    pub allow_plain_http: bool,
    /// Failed attempts in a row before a sync gives up (retries with backoff in between); 0 = 8.
    pub max_attempts: u32,
    /// The phone key (32 bytes) that seals GBV referrals and the device secret at rest: from the
    /// Android Keystore or the iOS Keychain, the same on every open. Without it (or with another)
    /// GBV referrals stay locked and syncing answers `key_needed`; activities are shown and kept.
    #[uniffi(default = None)]
    pub key: Option<Vec<u8>>,
    /// Days without a successful sync after which GBV referrals lock until the person signs in
    /// again (`sign_in`); `None` = 30, `Some(0)` = never.
    #[uniffi(default = None)]
    pub gbv_lock_after_days: Option<u32>,
    /// The commune's own certificate authority (DER), for a server on its LAN whose certificate
    /// no public authority signed; trusted besides the usual roots.
    #[uniffi(default = None)]
    pub ca_certificate: Option<Vec<u8>>,
}

/// The kind of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Kind {
    /// An outreach session, meeting, training…
    Activity,
    /// A gender-based-violence case referred to services.
    GbvReferral,
}

impl From<Kind> for RecordKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Activity => RecordKind::Activity,
            Kind::GbvReferral => RecordKind::GbvReferral,
        }
    }
}

impl From<RecordKind> for Kind {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Activity => Kind::Activity,
            RecordKind::GbvReferral => Kind::GbvReferral,
        }
    }
}

/// One value to write: a field code and its value as text (`attendance_female` = `12`;
/// `topics` = `+gbv_family` or `-gbv_family`; an empty value clears an optional field).
#[derive(Debug, Clone, uniffi::Record)]
pub struct FieldValue {
    /// The field's code.
    pub field: String,
    /// The value as text.
    pub value: String,
}

/// What the record list asks for.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct RecordFilter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this review state (`draft`, `submitted`, `returned`, `approved`).
    pub review_state: Option<String>,
    /// From this date (`YYYY-MM-DD`), inclusive.
    pub from_date: Option<String>,
    /// To this date, inclusive.
    pub to_date: Option<String>,
    /// Only records with open conflicts.
    pub conflicted_only: bool,
    /// Include deleted records.
    pub include_deleted: bool,
    /// Records to skip.
    pub offset: u32,
    /// Page size (0 = 50).
    pub limit: u32,
}

impl RecordFilter {
    pub(crate) fn to_query(&self) -> Result<RecordQuery, String> {
        let date = |s: &Option<String>| -> Result<Option<Date>, String> {
            s.as_deref().map(|d| d.parse::<Date>().map_err(|e| e.to_string())).transpose()
        };
        let review_state = match &self.review_state {
            None => None,
            Some(c) => Some(ReviewState::from_code(c).ok_or_else(|| format!("unknown review state {c:?}"))?),
        };
        Ok(RecordQuery {
            kind: self.kind.map(RecordKind::from),
            review_state,
            from: date(&self.from_date)?,
            to: date(&self.to_date)?,
            conflicted_only: self.conflicted_only,
            include_deleted: self.include_deleted,
            offset: self.offset,
            limit: if self.limit == 0 { 50 } else { self.limit },
        })
    }
}

/// A line of the record list.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordSummary {
    /// The record id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// A title: the activity type, or the case code.
    pub title: String,
    /// The date held or reported (`YYYY-MM-DD`).
    pub date: Option<String>,
    /// Review state code.
    pub review_state: String,
    /// Review state label.
    pub review_state_label: String,
    /// Female participants (activities).
    pub attendance_female: Option<i64>,
    /// Male participants (activities).
    pub attendance_male: Option<i64>,
    /// Open conflicts.
    pub conflicts: u32,
    /// Soft-deleted.
    pub deleted: bool,
    /// Edited after its approval.
    pub changed_after_approval: bool,
}

impl RecordSummary {
    pub(crate) fn new(v: &RecordView, lang: Lang) -> RecordSummary {
        let title = match v.kind {
            RecordKind::Activity => v.activity_type.map(|t| t.label(lang).to_string()),
            RecordKind::GbvReferral => v.case_code.clone(),
        };
        RecordSummary {
            id: v.id.to_string(),
            kind: v.kind.into(),
            title: title.unwrap_or_default(),
            date: v.held_on.or(v.reported_on).map(|d| d.to_string()),
            review_state: v.review_state.code().to_string(),
            review_state_label: v.review_state.label(lang).to_string(),
            attendance_female: v.attendance_female,
            attendance_male: v.attendance_male,
            conflicts: v.conflicts.len() as u32,
            deleted: v.deleted,
            changed_after_approval: v.changed_after_approval,
        }
    }
}

/// One field of a record as a form shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FieldEntry {
    /// The field's code.
    pub field: String,
    /// The field's label.
    pub label: String,
    /// The value as text (codes), empty when unset.
    pub value: String,
    /// The value as a person reads it.
    pub value_label: String,
}

/// One of the values of a field in conflict.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConflictChoice {
    /// The value (codes for enumerations).
    pub value: String,
    /// The user who set it.
    pub user: Option<String>,
    /// The device it was set on.
    pub device: Option<String>,
    /// When, by that device's clock (Unix ms; advisory).
    pub at_ms: i64,
    /// The value shown while the conflict is open.
    pub shown: bool,
}

/// A field two phones set to different values at the same time.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConflictInfo {
    /// The field's code.
    pub field: String,
    /// The field's label.
    pub label: String,
    /// Each value, in a fixed order (choose one by its index).
    pub choices: Vec<ConflictChoice>,
}

/// One change in a record's history.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HistoryItem {
    /// When, by the device's clock (Unix ms; advisory).
    pub at_ms: i64,
    /// The user.
    pub user: Option<String>,
    /// The device.
    pub device: Option<String>,
    /// The fields it changed: `label: before → after`, one per field.
    pub changes: Vec<String>,
}

impl HistoryItem {
    pub(crate) fn new(h: &HistoryEntry, lang: Lang) -> HistoryItem {
        let text = |v: &Option<serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => "–".to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        HistoryItem {
            at_ms: h.at_ms,
            user: h.user.map(|u| u.to_string()),
            device: h.device.map(|d| d.to_string()),
            changes: h
                .changes
                .iter()
                .map(|c| {
                    let label = Field::from_code(&c.field).map_or(c.field.clone(), |f| f.label(lang).to_string());
                    format!("{label}: {} → {}", text(&c.from), text(&c.to))
                })
                .collect(),
        }
    }
}

/// A record with everything its page shows.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordDetail {
    /// The list line.
    pub summary: RecordSummary,
    /// Every field of its kind, in form order.
    pub fields: Vec<FieldEntry>,
    /// Open conflicts.
    pub conflicts: Vec<ConflictInfo>,
    /// The reviewer's comment when it was returned.
    pub review_comment: Option<String>,
    /// Who created it, when (device clock, Unix ms).
    pub created_at_ms: i64,
    /// Its history, oldest first.
    pub history: Vec<HistoryItem>,
}

impl RecordDetail {
    pub(crate) fn new(v: &RecordView, history: &[HistoryEntry], lang: Lang) -> RecordDetail {
        let fields = Field::of_kind(v.kind)
            .iter()
            .map(|&f| {
                let t = v.field_text(f, lang);
                FieldEntry {
                    field: f.code().to_string(),
                    label: f.label(lang).to_string(),
                    value: t.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
                    value_label: t.map(|t| t.label).unwrap_or_default(),
                }
            })
            .collect();
        let conflicts = v
            .conflicts
            .iter()
            .map(|c| ConflictInfo {
                field: c.field.code().to_string(),
                label: c.field.label(lang).to_string(),
                choices: c
                    .values
                    .iter()
                    .map(|x| ConflictChoice {
                        value: x.value.clone(),
                        user: x.by.user.map(|u| u.to_string()),
                        device: x.by.device.map(|d| d.to_string()),
                        at_ms: x.by.at_ms,
                        shown: x.shown,
                    })
                    .collect(),
            })
            .collect();
        RecordDetail {
            summary: RecordSummary::new(v, lang),
            fields,
            conflicts,
            review_comment: v.review_comment.clone(),
            created_at_ms: v.created.at_ms,
            history: history.iter().map(|h| HistoryItem::new(h, lang)).collect(),
        }
    }
}

/// A local change the server refused, kept aside for a person to decide.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RefusedChange {
    /// Its id on this phone (to discard or re-submit it).
    pub id: u64,
    /// The record it changed.
    pub record_id: String,
    /// The server's code: `forbidden` (not this account's to change), `unprocessable` (a value
    /// or a step the rules do not allow) or `scope_changed` (the account was moved first).
    pub code: String,
    /// What happened and what to do, in the phone's language.
    pub message: String,
    /// The server's own reason (English), for support.
    pub server_reason: String,
}

impl RefusedChange {
    pub(crate) fn new(r: &sotay_sync_core::device::RejectedChange, lang: Lang) -> RefusedChange {
        let vi = lang == Lang::Vi;
        let message = match r.code.as_str() {
            "forbidden" if vi => {
                "Máy chủ không nhận thay đổi này vì tài khoản của bạn không được sửa bản ghi đó; bản ghi đã trở về như trên máy chủ."
            }
            "forbidden" => {
                "The server did not take this change because your account may not change that record; the record is back as the server has it."
            }
            "scope_changed" if vi => {
                "Thôn hoặc vai trò của bạn đã đổi trước khi thay đổi này được gửi; hãy xem lại rồi gửi lại nếu vẫn cần."
            }
            "scope_changed" => {
                "Your village or role changed before this change was sent; look at it again and re-submit it if it is still needed."
            }
            _ if vi => {
                "Máy chủ không nhận thay đổi này vì nó trái quy định; bản ghi đã trở về như trên máy chủ, hãy sửa lại rồi gửi."
            }
            _ => {
                "The server did not take this change because it breaks a rule; the record is back as the server has it, so edit it again and send it."
            }
        };
        RefusedChange {
            id: r.entry.seq,
            record_id: r.entry.record.to_string(),
            code: r.code.clone(),
            message: message.to_string(),
            server_reason: r.message.clone(),
        }
    }
}

/// What a home screen shows.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PhoneStatus {
    /// Enrolled with a server.
    pub enrolled: bool,
    /// This device's id.
    pub device_id: Option<String>,
    /// The server.
    pub server: Option<String>,
    /// The role (`collaborator`, …).
    pub role: Option<String>,
    /// Revoked by the commune office.
    pub revoked: bool,
    /// When the last sync succeeded (Unix ms).
    pub last_sync_ms: Option<i64>,
    /// Why GBV referrals are locked, if they are: `no_key`, `wrong_key` or `stale` (sign in again).
    pub gbv_lock: Option<String>,
    /// Changes not sent yet.
    pub unsent_changes: u64,
    /// Changes the server refused.
    pub refused_changes: u64,
    /// Records (not deleted).
    pub records: u64,
    /// Activities.
    pub activities: u64,
    /// GBV referrals.
    pub gbv_referrals: u64,
    /// Drafts.
    pub drafts: u64,
    /// Submitted, waiting for review.
    pub submitted: u64,
    /// Returned to their author.
    pub returned: u64,
    /// Approved.
    pub approved: u64,
    /// With open conflicts.
    pub conflicted: u64,
}

impl PhoneStatus {
    pub(crate) fn counts(mut self, c: &HomeCounts) -> PhoneStatus {
        self.unsent_changes = c.unsent_changes as u64;
        self.refused_changes = c.refused_changes as u64;
        self.records = c.records as u64;
        self.activities = c.activities as u64;
        self.gbv_referrals = c.gbv_referrals as u64;
        self.drafts = c.drafts as u64;
        self.submitted = c.submitted as u64;
        self.returned = c.returned as u64;
        self.approved = c.approved as u64;
        self.conflicted = c.conflicted as u64;
        self
    }
}

/// Where a sync stands (given to the progress listener).
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncProgress {
    /// Round trips done.
    pub round_trips: u32,
    /// Changes the server acknowledged so far.
    pub changes_sent: u64,
    /// Changes still to send.
    pub changes_pending: u64,
    /// Records received so far.
    pub records_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Failed attempts retried so far.
    pub retries: u32,
    /// Waiting this long before the next attempt (ms), or 0.
    pub retrying_in_ms: u64,
}

impl From<&sotay_client::SyncStatus> for SyncProgress {
    fn from(s: &sotay_client::SyncStatus) -> Self {
        SyncProgress {
            round_trips: s.round_trips as u32,
            changes_sent: s.changes_sent as u64,
            changes_pending: s.changes_pending as u64,
            records_received: s.records_received as u64,
            bytes_sent: s.bytes_sent as u64,
            bytes_received: s.bytes_received as u64,
            retries: s.retries,
            retrying_in_ms: s.retrying_in.map_or(0, |d| d.as_millis() as u64),
        }
    }
}

/// What a finished sync did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncResult {
    /// Changes the server acknowledged.
    pub changes_sent: u64,
    /// Records received or updated.
    pub records_received: u64,
    /// Changes the server refused (see `refused_changes`).
    pub refused: u64,
    /// Round trips.
    pub round_trips: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Failed attempts retried.
    pub retries: u32,
    /// The account moved to another village or role: the phone started over there.
    pub reset: bool,
}

impl From<&sotay_client::SyncReport> for SyncResult {
    fn from(r: &sotay_client::SyncReport) -> Self {
        SyncResult {
            changes_sent: r.acked as u64,
            records_received: r.records_received as u64,
            refused: r.rejected as u64,
            round_trips: r.round_trips as u32,
            bytes_sent: r.wire.request_bytes as u64,
            bytes_received: r.wire.response_bytes as u64,
            retries: r.retries,
            reset: r.reset,
        }
    }
}

/// Told how a sync progresses; called on the syncing thread, so keep it short (post to the UI).
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// After every round trip, and before every retry.
    fn on_progress(&self, progress: SyncProgress);
}
