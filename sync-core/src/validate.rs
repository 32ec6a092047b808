//! Validation of a record's projection, with errors that name the field in Vietnamese and English.
//!
//! Drafts may be invalid (a collaborator saves what they have); submission requires no errors.
//! Validation is pure: "today" is handed in, never read from a clock here.

use crate::field::Field;
use crate::ids::Date;
use crate::record::view::RecordView;
use crate::schema::{ActivityType, RecordKind};

pub use crate::field_error::{
    EARLIEST_DATE, MAX_LOCATION_CHARS, MAX_NOTES_CHARS, MAX_UNIT_CHARS, Rule, ValidationError,
};

/// Every validation error of a record, in field order. Empty means the record may be submitted.
pub fn validate(v: &RecordView, today: Date) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let mut err = |field, rule| errs.push(ValidationError { field, rule });
    let required_text = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());

    if required_text(&v.unit) {
        err(Field::Unit, Rule::Required);
    } else if v.unit.as_deref().is_some_and(|u| u.chars().count() > MAX_UNIT_CHARS) {
        err(Field::Unit, Rule::TooLong);
    }
    if v.plan_item.is_none() {
        err(Field::PlanItem, Rule::Required);
    }
    let check_date = |field, d: Option<Date>, err: &mut dyn FnMut(Field, Rule)| match d {
        None => err(field, Rule::Required),
        Some(d) if d < EARLIEST_DATE => err(field, Rule::DateTooEarly),
        Some(d) if d > today => err(field, Rule::DateInFuture),
        Some(_) => {}
    };
    match v.kind {
        RecordKind::Activity => {
            match v.activity_type {
                None => err(Field::ActivityType, Rule::Required),
                Some(ActivityType::Communication) if v.format.is_none() => err(Field::Format, Rule::Required),
                Some(_) => {}
            }
            check_date(Field::HeldOn, v.held_on, &mut err);
            if required_text(&v.location) {
                err(Field::Location, Rule::Required);
            } else if v.location.as_deref().is_some_and(|l| l.chars().count() > MAX_LOCATION_CHARS) {
                err(Field::Location, Rule::TooLong);
            }
            if let Some(p) = v.gps
                && !((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon))
            {
                err(Field::Gps, Rule::GpsOutOfRange);
            }
            for (field, n) in
                [(Field::AttendanceFemale, v.attendance_female), (Field::AttendanceMale, v.attendance_male)]
            {
                match n {
                    None => err(field, Rule::Required),
                    Some(n) if n < 0 => err(field, Rule::NotNegative),
                    Some(_) => {}
                }
            }
            match v.attendance_ethnic_minority {
                Some(n) if n < 0 => err(Field::AttendanceEthnicMinority, Rule::NotNegative),
                Some(n) if n > v.attendance_total.unwrap_or(0) => {
                    err(Field::AttendanceEthnicMinority, Rule::ExceedsTotal)
                }
                _ => {}
            }
            if v.notes.chars().count() > MAX_NOTES_CHARS {
                err(Field::Notes, Rule::TooLong);
            }
        }
        RecordKind::GbvReferral => {
            match v.case_code.as_deref().map(str::trim) {
                None | Some("") => err(Field::CaseCode, Rule::Required),
                Some(c) if contains_phone_number(c) => err(Field::CaseCode, Rule::ContainsPhoneNumber),
                Some(c)
                    if !(4..=24).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    err(Field::CaseCode, Rule::CaseCodeFormat)
                }
                Some(_) => {}
            }
            check_date(Field::ReportedOn, v.reported_on, &mut err);
            if v.survivor_sex.is_none() {
                err(Field::SurvivorSex, Rule::Required);
            }
            if v.survivor_age_group.is_none() {
                err(Field::SurvivorAgeGroup, Rule::Required);
            }
            if v.violence_types.is_empty() {
                err(Field::ViolenceTypes, Rule::Required);
            }
            if v.setting.is_none() {
                err(Field::Setting, Rule::Required);
            }
            if v.referred_to.is_empty() {
                err(Field::ReferredTo, Rule::Required);
            }
            if v.case_status.is_none() {
                err(Field::CaseStatus, Rule::Required);
            }
            if v.consent_to_share.is_none() {
                err(Field::ConsentToShare, Rule::Required);
            }
            if v.notes.chars().count() > MAX_NOTES_CHARS {
                err(Field::Notes, Rule::TooLong);
            } else if contains_phone_number(&v.notes) {
                err(Field::Notes, Rule::ContainsPhoneNumber);
            } else if contains_email(&v.notes) {
                err(Field::Notes, Rule::ContainsEmail);
            }
        }
    }
    errs
}

/// Whether the text holds something shaped like a Vietnamese phone number: a run of 9 to 12
/// digits (single spaces, dots or dashes allowed between them) starting with `0`, `84` or `+84`.
/// Dates such as `15-11-2026` are too short to match.
pub fn contains_phone_number(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let plus = chars[i] == '+';
        if plus {
            i += 1;
        }
        if i >= chars.len() || !chars[i].is_ascii_digit() {
            i = start + 1;
            continue;
        }
        let mut digits = String::new();
        while i < chars.len() {
            if chars[i].is_ascii_digit() {
                digits.push(chars[i]);
                i += 1;
            } else if matches!(chars[i], ' ' | '.' | '-') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                i += 1;
            } else {
                break;
            }
        }
        let local = digits.starts_with('0') && !plus;
        let international = digits.starts_with("84");
        if (9..=12).contains(&digits.len()) && (local || international) {
            return true;
        }
        // Several numbers in one run (e.g. two phone numbers side by side).
        if digits.len() > 12 && (local || international) {
            return true;
        }
    }
    false
}

/// Whether the text holds something shaped like an e-mail address.
pub fn contains_email(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        matches!(w.split_once('@'), Some((user, host)) if !user.is_empty() && host.contains('.') && !host.starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_found() {
        for t in [
            "gọi 0912345678",
            "0912 345 678",
            "số 091.234.5678 nhé",
            "+84 912 345 678",
            "84912345678",
            "sđt:0362-123-456",
        ] {
            assert!(contains_phone_number(t), "{t}");
        }
        for t in ["ngày 15-11-2026", "2026-11-15", "12 người tham dự", "năm 2026 có 1500 hộ", "mã 0001", ""]
        {
            assert!(!contains_phone_number(t), "{t}");
        }
    }

    #[test]
    fn emails_are_found() {
        assert!(contains_email("liên hệ an.nguyen@example.vn."));
        assert!(!contains_email("hội trường @ thôn"));
    }
}
