//! The device's refusals (`sotay_sync_core::device::DeviceError` over the phone store) as one
//! sentence for the person, in their language: what happened and what to do.

use sotay_client::ClientError;
use sotay_client::store::StoreError;
use sotay_sync_core::device::DeviceError;
use sotay_sync_core::{Coded, Field, Lang, RecordError};

use super::CliError;

/// The local store's failure, in the device library's words (one place for those messages).
pub(super) fn store_message(e: &StoreError, lang: Lang) -> String {
    match e {
        StoreError::Locked(lock) => ClientError::Locked(lock.to_string()).message(lang),
        e => ClientError::Storage(e.to_string()).message(lang),
    }
}

/// A device operation's refusal.
pub(super) fn device_message(e: &DeviceError<StoreError>, lang: Lang) -> String {
    let vi = lang == Lang::Vi;
    let pick = |v: String, e: String| if vi { v } else { e };
    match e {
        DeviceError::Store(s) => store_message(s, lang),
        DeviceError::Record(r) => record_message(r, lang),
        DeviceError::NotFound(id) => pick(
            format!("Không có bản ghi {id} trên máy này; chạy `sotay list` để xem các bản ghi."),
            format!("There is no record {id} on this device; run `sotay list` to see the records."),
        ),
        DeviceError::NoVillage => pick(
            "Tài khoản này không thuộc thôn nào nên không tạo được bản ghi trên thiết bị; bản ghi do cộng tác viên thôn tạo.".into(),
            "This account belongs to no village, so it cannot create records on a device; village collaborators create them.".into(),
        ),
        DeviceError::NoSuchRefusal(n) => CliError::NoSuchRefusal(*n).message(lang),
        DeviceError::NotResubmittable(id) => pick(
            format!("Không gửi lại được thay đổi bị từ chối của bản ghi {id} vì bản ghi không còn trên máy như trước; hãy bỏ nó bằng `sotay rejected --discard`."),
            format!("The refused change to record {id} cannot be sent again, as the record is no longer on this device as it was; drop it with `sotay rejected --discard`."),
        ),
        DeviceError::Protocol(why) => ClientError::Protocol(why.clone()).message(lang),
    }
}

fn record_message(e: &RecordError, lang: Lang) -> String {
    let vi = lang == Lang::Vi;
    let pick = |v: String, e: String| if vi { v } else { e };
    let label = |code: &str| Field::from_code(code).map_or_else(|| code.to_string(), |f| f.label(lang).to_string());
    match e {
        RecordError::Corrupt(_) | RecordError::NotARecord(_) => pick(
            "Bản ghi trên máy bị hỏng nên không đọc được; hãy báo văn phòng xã.".into(),
            "The record on this device is damaged and cannot be read; tell the commune office.".into(),
        ),
        RecordError::UnsupportedSchema(_) => pick(
            "Bản ghi do một phiên bản mới hơn tạo ra; hãy cập nhật sotay.".into(),
            "The record was made by a newer version; update sotay.".into(),
        ),
        RecordError::WrongKind { kind, field } => pick(
            format!(
                "Bản ghi loại \"{}\" không có trường {}; chạy `sotay show` để xem bản ghi.",
                kind.label(lang),
                label(field)
            ),
            format!(
                "Records of kind \"{}\" have no field {}; run `sotay show` to see the record.",
                kind.label(lang),
                label(field)
            ),
        ),
        RecordError::Deleted => pick(
            "Bản ghi này đã bị xoá nên không thay đổi được.".into(),
            "This record has been deleted, so it cannot be changed.".into(),
        ),
        RecordError::Invalid(errors) => {
            let list = errors.iter().map(|e| e.message(lang)).collect::<Vec<_>>().join("; ");
            pick(
                format!("Bản ghi chưa hợp lệ ({list}); hãy sửa bằng `sotay edit` rồi gửi lại."),
                format!("The record is not valid ({list}); fix it with `sotay edit` and submit again."),
            )
        }
        RecordError::Transition { from, action } => {
            let (action_vi, todo_vi, todo_en) = match *action {
                "submit" => (
                    "gửi",
                    "chỉ gửi được bản nháp hoặc bản bị trả lại",
                    "only drafts and returned records are submitted",
                ),
                "approve" => ("duyệt", "chỉ duyệt được bản đã gửi", "only submitted records are approved"),
                _ => ("trả lại", "chỉ trả lại được bản đã gửi", "only submitted records are returned"),
            };
            pick(
                format!("Không thể {action_vi} bản ghi đang ở trạng thái \"{}\"; {todo_vi}.", from.label(lang)),
                format!("Cannot {action} a record that is \"{}\"; {todo_en}.", from.label(lang)),
            )
        }
        RecordError::CommentRequired => pick(
            "Trả lại bản ghi cần ghi lý do; hãy thêm --comment \"...\".".into(),
            "Returning a record needs a comment saying why; add --comment \"...\".".into(),
        ),
        RecordError::NoSuchConflict(field) => pick(
            format!(
                "Trường {} không có xung đột với lựa chọn đó; chạy `sotay conflicts` để xem các lựa chọn.",
                label(field)
            ),
            format!(
                "The field {} has no conflict with that choice; run `sotay conflicts` to see the choices.",
                label(field)
            ),
        ),
    }
}
