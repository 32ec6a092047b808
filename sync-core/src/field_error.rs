//! A field's validation error: the rule it breaks, the limits those rules name, and the message
//! a person reads, in Vietnamese and English. Apart from [`crate::validate`] so that the record
//! core and the ingest rules can name an error without depending on validation itself.

use crate::field::Field;
use crate::ids::Date;
use crate::schema::{Coded, Lang};
use serde::{Deserialize, Serialize};

/// The earliest date a record may carry.
pub const EARLIEST_DATE: Date = Date { year: 2000, month: 1, day: 1 };
/// Longest location, in characters.
pub const MAX_LOCATION_CHARS: usize = 200;
/// Longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 5000;
/// Longest unit code, in characters.
pub const MAX_UNIT_CHARS: usize = 64;

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Must be filled in.
    Required,
    /// Must be a whole number ≥ 0.
    NotNegative,
    /// Ethnic-minority attendance cannot exceed the total.
    ExceedsTotal,
    /// Before [`EARLIEST_DATE`].
    DateTooEarly,
    /// After today.
    DateInFuture,
    /// Longer than allowed.
    TooLong,
    /// Looks like a phone number: a GBV record must not identify anyone.
    ContainsPhoneNumber,
    /// Looks like an e-mail address: a GBV record must not identify anyone.
    ContainsEmail,
    /// A case code is 4–24 letters, digits or dashes.
    CaseCodeFormat,
    /// Latitude or longitude out of range.
    GpsOutOfRange,
}

/// One validation failure: the field and the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    /// The field at fault.
    pub field: Field,
    /// The rule it breaks.
    pub rule: Rule,
}

impl ValidationError {
    /// The message shown to a person, naming the field.
    pub fn message(&self, lang: Lang) -> String {
        let label = self.field.label(lang);
        let text = match (self.rule, lang) {
            (Rule::Required, Lang::Vi) => "bắt buộc phải nhập".to_string(),
            (Rule::Required, Lang::En) => "is required".to_string(),
            (Rule::NotNegative, Lang::Vi) => "phải là số nguyên không âm".to_string(),
            (Rule::NotNegative, Lang::En) => "must be a whole number of 0 or more".to_string(),
            (Rule::ExceedsTotal, Lang::Vi) => "không được lớn hơn tổng số người tham dự".to_string(),
            (Rule::ExceedsTotal, Lang::En) => "cannot be more than the total attendance".to_string(),
            (Rule::DateTooEarly, Lang::Vi) => format!("không được trước ngày {EARLIEST_DATE}"),
            (Rule::DateTooEarly, Lang::En) => format!("cannot be before {EARLIEST_DATE}"),
            (Rule::DateInFuture, Lang::Vi) => "không được sau ngày hôm nay".to_string(),
            (Rule::DateInFuture, Lang::En) => "cannot be in the future".to_string(),
            (Rule::TooLong, Lang::Vi) => format!("quá dài (tối đa {} ký tự)", self.max_chars()),
            (Rule::TooLong, Lang::En) => format!("is too long (at most {} characters)", self.max_chars()),
            (Rule::ContainsPhoneNumber, Lang::Vi) => {
                "không được chứa số điện thoại hay thông tin nhận dạng cá nhân".to_string()
            }
            (Rule::ContainsPhoneNumber, Lang::En) => {
                "must not contain a phone number or anything that identifies a person".to_string()
            }
            (Rule::ContainsEmail, Lang::Vi) => "không được chứa địa chỉ thư điện tử".to_string(),
            (Rule::ContainsEmail, Lang::En) => "must not contain an e-mail address".to_string(),
            (Rule::CaseCodeFormat, Lang::Vi) => "gồm 4–24 chữ cái, chữ số hoặc dấu gạch ngang".to_string(),
            (Rule::CaseCodeFormat, Lang::En) => "must be 4–24 letters, digits or dashes".to_string(),
            (Rule::GpsOutOfRange, Lang::Vi) => "vĩ độ, kinh độ không hợp lệ".to_string(),
            (Rule::GpsOutOfRange, Lang::En) => "latitude or longitude out of range".to_string(),
        };
        format!("{label}: {text}")
    }

    fn max_chars(&self) -> usize {
        match self.field {
            Field::Location => MAX_LOCATION_CHARS,
            Field::Unit => MAX_UNIT_CHARS,
            _ => MAX_NOTES_CHARS,
        }
    }
}
