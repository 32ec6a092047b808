//! The one error an app sees: a small, stable enum with a `code` to switch on and a `message` in
//! the person's language, made from the device's errors in one place.

use sotay_client::ClientError;
use sotay_sync_core::device::DeviceError;
use sotay_sync_core::{Lang, RecordError};

/// A field the person has to fix, with the reason in their language.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldProblem {
    /// The field's code (`attendance_female`).
    pub field: String,
    /// The field's label (`Số người tham dự nữ`).
    pub label: String,
    /// What is wrong, as one sentence naming the field.
    pub message: String,
}

/// Everything that can go wrong, for an app. Every variant carries a stable `code` (the same
/// codes as `sotay_client::ClientError::code`, plus `invalid`, `not_found`, `not_allowed`) and a
/// `reason` to show as it is (not `message`, which Kotlin exceptions already have).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SotayError {
    /// The network or the server failed; the data is safe on the phone and a later sync sends it
    /// (`offline`, `network`, `server_busy`, `server_error`, `cancelled`).
    #[error("{reason}")]
    Network {
        /// Stable code.
        code: String,
        /// For the person: one sentence in their language.
        reason: String,
    },
    /// Values to fix before saving or submitting, per field (`invalid`).
    #[error("{reason}")]
    Invalid {
        /// Stable code.
        code: String,
        /// For the person: a summary in their language.
        reason: String,
        /// Each field at fault.
        fields: Vec<FieldProblem>,
    },
    /// The phone is not enrolled, was revoked, or the server no longer accepts it (`not_enrolled`,
    /// `revoked`, `unauthorized`, `already_enrolled`, `code_used`); its GBV referrals are locked
    /// (`locked`: sign in again); signing in failed (`bad_password`, `wrong_account`).
    #[error("{reason}")]
    Account {
        /// Stable code.
        code: String,
        /// For the person: one sentence in their language.
        reason: String,
    },
    /// The action is not possible on this record now, or the server refused it (`not_found`,
    /// `not_allowed`, `forbidden`, `refused`, `bad_url`, `insecure_url`).
    #[error("{reason}")]
    Refused {
        /// Stable code.
        code: String,
        /// For the person: one sentence in their language.
        reason: String,
    },
    /// The phone's storage failed; nothing was changed (`storage`, `protocol`).
    #[error("{reason}")]
    Storage {
        /// Stable code.
        code: String,
        /// For the person: one sentence in their language.
        reason: String,
    },
}

impl SotayError {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            SotayError::Network { code, .. }
            | SotayError::Invalid { code, .. }
            | SotayError::Account { code, .. }
            | SotayError::Refused { code, .. }
            | SotayError::Storage { code, .. } => code,
        }
    }

    pub(crate) fn from_client(e: ClientError, lang: Lang) -> SotayError {
        let code = e.code().to_string();
        let message = e.message(lang);
        match code.as_str() {
            "offline" | "network" | "server_busy" | "server_error" | "cancelled" => {
                SotayError::Network { code, reason: message }
            }
            "not_enrolled" | "revoked" | "unauthorized" | "already_enrolled" | "code_used" | "locked"
            | "wrong_account" | "bad_password" | "key_needed" => SotayError::Account { code, reason: message },
            "storage" | "protocol" => SotayError::Storage { code, reason: message },
            _ => SotayError::Refused { code, reason: message },
        }
    }

    pub(crate) fn from_device<E: std::error::Error + 'static>(e: DeviceError<E>, lang: Lang) -> SotayError {
        let vi = lang == Lang::Vi;
        let refused = |code: &str, vi_msg: &str, en_msg: &str| SotayError::Refused {
            code: code.to_string(),
            reason: if vi { vi_msg } else { en_msg }.to_string(),
        };
        match e {
            DeviceError::Store(s) => SotayError::from_client(ClientError::from(DeviceError::<E>::Store(s)), lang),
            DeviceError::NotFound(_) => {
                refused("not_found", "Không có bản ghi này trên điện thoại.", "This record is not on this phone.")
            }
            DeviceError::NoVillage => refused(
                "not_allowed",
                "Tài khoản này không thuộc thôn nào nên không tạo được bản ghi trên điện thoại.",
                "This account belongs to no village, so it cannot create records on a phone.",
            ),
            DeviceError::Record(RecordError::Invalid(errors)) => SotayError::Invalid {
                code: "invalid".into(),
                reason: if vi {
                    "Bản ghi chưa hợp lệ; hãy sửa các trường được đánh dấu rồi gửi lại."
                } else {
                    "The record is not valid yet; fix the fields marked and submit again."
                }
                .into(),
                fields: errors
                    .iter()
                    .map(|v| FieldProblem {
                        field: sotay_sync_core::Coded::code(v.field).to_string(),
                        label: sotay_sync_core::Coded::label(v.field, lang).to_string(),
                        message: v.message(lang),
                    })
                    .collect(),
            },
            DeviceError::Record(RecordError::Deleted) => refused(
                "not_allowed",
                "Bản ghi đã bị xoá; hãy khôi phục trước khi sửa.",
                "The record is deleted; restore it before editing.",
            ),
            DeviceError::Record(RecordError::Transition { .. }) => refused(
                "not_allowed",
                "Không thể làm việc này khi bản ghi đang ở trạng thái hiện tại.",
                "This cannot be done while the record is in its current state.",
            ),
            DeviceError::Record(RecordError::NoSuchConflict(_)) => refused(
                "not_found",
                "Trường này không có xung đột, hoặc không có giá trị đã chọn.",
                "There is no conflict on this field, or no such value.",
            ),
            DeviceError::Record(RecordError::WrongKind { .. }) => refused(
                "not_allowed",
                "Loại bản ghi này không có trường đó.",
                "Records of this kind have no such field.",
            ),
            DeviceError::NoSuchRefusal(_) => refused(
                "not_found",
                "Không còn thay đổi bị từ chối này trên điện thoại.",
                "This refused change is no longer on this phone.",
            ),
            DeviceError::NotResubmittable(_) => refused(
                "not_allowed",
                "Bản ghi của thay đổi này không còn trên điện thoại nên không gửi lại được; hãy bỏ qua nó.",
                "The record of this change is no longer on this phone, so it cannot be sent again; discard it.",
            ),
            other => SotayError::from_client(ClientError::Protocol(other.to_string()), lang),
        }
    }
}
