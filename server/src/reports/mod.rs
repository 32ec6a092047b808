//! The commune's reports: the projection they read ([`projection`]), the periods they cover
//! ([`period`]), the plan-shaped tables ([`build`]), completeness against the deadline
//! ([`completeness`]), small-cell suppression ([`suppress`]), the shared table model ([`table`])
//! and the XLSX and CSV exports ([`export`]). HTTP handlers live in `api/reports.rs`; nothing here
//! knows HTTP.

pub mod build;
pub mod completeness;
pub mod dashboard;
pub mod export;
pub mod period;
pub mod projection;
pub mod suppress;
pub mod table;

/// Vietnam's offset from UTC (UTC+7, no daylight saving): the commune's days and months.
pub const VIETNAM_OFFSET_MS: i64 = 7 * 3600 * 1000;

/// Today's date in Vietnam.
pub fn today() -> sotay_sync_core::Date {
    sotay_sync_core::Date::from_unix_ms(crate::now_ms() + VIETNAM_OFFSET_MS)
}

/// The time now in Vietnam, for the title row of a report ("03/12/2026 14:05").
pub fn now_label() -> String {
    let ms = crate::now_ms() + VIETNAM_OFFSET_MS;
    let day = sotay_sync_core::Date::from_unix_ms(ms);
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02}", period::vi(day), minutes / 60, minutes % 60)
}
