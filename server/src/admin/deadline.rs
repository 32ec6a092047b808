//! A commune's reporting deadline: the day of the year by which its villages and units report
//! (25 November in the 2026 plan), against which completeness judges who reported late. It is kept
//! as a month and a day (`communes.report_deadline`, `MM-DD`), not as a date: one setting serves
//! every period, in the year the period ends (`reports::build::deadline`). 29 February is refused:
//! in three years out of four it would be no day at all, and the period would have no deadline.

use super::audit;
use crate::auth::AuthDevice;
use crate::db::Db;
use anyhow::Context;
use sotay_sync_core::{CommuneId, Date};
use sqlx::Row;

/// A day of the year that exists every year: a month (1 to 12) and one of its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    month: u8,
    day: u8,
}

/// Why a deadline was refused (the sentence an API client or `sotay admin` reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// Not `MM-DD` (a full date, a day first, words).
    #[error(
        "the deadline is a day of the year as MM-DD, for example 11-25 for 25 November (the year is each period's own)"
    )]
    Form,
    /// A month that is not one, or a day that month does not have.
    #[error("{month:02}-{day:02} is not a day of the year: the month is 01 to 12 and the day one that month has")]
    NoSuchDay {
        /// The month given.
        month: u8,
        /// The day given.
        day: u8,
    },
    /// 29 February.
    #[error("29 February is not in every year: choose 02-28 or 03-01")]
    LeapDay,
}

impl Deadline {
    /// 25 November, the 2026 plan's deadline (the schema's default).
    pub const PLAN_2026: Deadline = Deadline { month: 11, day: 25 };

    /// The deadline on `day` `month`, if that day is in every year.
    pub fn new(month: u8, day: u8) -> Result<Deadline, DeadlineError> {
        // 2025 is not a leap year: what it has, every year has.
        if Date::new(2025, month, day).is_some() {
            Ok(Deadline { month, day })
        } else if (month, day) == (2, 29) {
            Err(DeadlineError::LeapDay)
        } else {
            Err(DeadlineError::NoSuchDay { month, day })
        }
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month.
    pub fn day(self) -> u8 {
        self.day
    }
}

/// `MM-DD` (one or two digits each; surrounding spaces ignored).
impl std::str::FromStr for Deadline {
    type Err = DeadlineError;

    fn from_str(s: &str) -> Result<Deadline, DeadlineError> {
        let number = |part: &str| {
            let digits = (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| part.parse::<u8>().ok()).flatten().ok_or(DeadlineError::Form)
        };
        let (month, day) = s.trim().split_once('-').ok_or(DeadlineError::Form)?;
        Deadline::new(number(month)?, number(day)?)
    }
}

/// `MM-DD`, as stored.
impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

/// Sets a commune's reporting deadline and audits it in the same transaction
/// (`commune.deadline`, detail `commune <id>: <old> -> <new>`), as the admin `by` or, without one,
/// as `sotay admin` on the server machine. Returns the deadline it replaced, as it was stored.
pub async fn set_report_deadline(
    db: &Db,
    commune: CommuneId,
    deadline: Deadline,
    by: Option<&AuthDevice>,
) -> anyhow::Result<String> {
    let mut tx = db.begin_write().await?;
    let old: String = sqlx::query("SELECT report_deadline FROM communes WHERE id = $1")
        .bind(commune.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await?
        .with_context(|| format!("there is no commune {commune}"))?
        .get(0);
    let new = deadline.to_string();
    sqlx::query("UPDATE communes SET report_deadline = $1 WHERE id = $2")
        .bind(&new)
        .bind(commune.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    let detail = format!("commune {commune}: {old} -> {new}");
    audit(&mut tx, by.map(|a| a.user), by.map(|a| a.device), "commune.deadline", None, &detail).await?;
    tx.commit().await?;
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_a_day_every_year_has() {
        for (text, month, day) in [("11-25", 11, 25), ("1-5", 1, 5), (" 02-28 ", 2, 28), ("12-31", 12, 31)] {
            let d: Deadline = text.parse().unwrap();
            assert_eq!((d.month(), d.day()), (month, day), "{text}");
        }
        assert_eq!("1-5".parse::<Deadline>().unwrap().to_string(), "01-05", "stored as MM-DD");
        assert_eq!(Deadline::PLAN_2026.to_string(), "11-25");
        assert_eq!("02-29".parse::<Deadline>(), Err(DeadlineError::LeapDay));
        for bad in ["11-31", "13-01", "00-10", "04-00", "02-30"] {
            assert!(matches!(bad.parse::<Deadline>(), Err(DeadlineError::NoSuchDay { .. })), "{bad}");
        }
        for bad in ["", "2026-11-25", "25/11", "11-", "-25", "11-+5", "tháng 11", "011-25", "11 - 25"] {
            assert_eq!(bad.parse::<Deadline>(), Err(DeadlineError::Form), "{bad:?}");
        }
    }
}
