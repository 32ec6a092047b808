//! Identifiers: UUID newtypes for records, devices, users, communes and villages, and calendar dates.
//!
//! Record ids are UUIDv7 minted on the device, so they sort by creation time and never collide
//! between phones that have never talked to each other.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The 16 raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            /// From 16 raw bytes; `None` for any other length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                Uuid::from_slice(bytes).ok().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// A record, minted on the device as a UUIDv7.
    RecordId
);
uuid_id!(
    /// A device (one install of the app, or one `sotay` data directory). Also its Automerge actor.
    DeviceId
);
uuid_id!(
    /// A person with an account. Also the Automerge author of every change they make.
    UserId
);
uuid_id!(
    /// A commune (xã).
    CommuneId
);
uuid_id!(
    /// A village (thôn).
    VillageId
);

impl RecordId {
    /// A fresh UUIDv7 for the given Unix time in milliseconds.
    pub fn new_v7(unix_ms: u64) -> RecordId {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, unix_ms / 1000, ((unix_ms % 1000) * 1_000_000) as u32);
        RecordId(Uuid::new_v7(ts))
    }
}

/// A calendar date (`YYYY-MM-DD`), without time zone: the day an activity was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, 1..=9999.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31 depending on the month.
    pub day: u8,
}

/// Why a date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a date in the form YYYY-MM-DD: {0:?}")]
pub struct DateParseError(pub String);

impl Date {
    /// A date, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1 && day >= 1 && day <= days).then_some(Date { year, month, day })
    }

    /// The civil date of a Unix time in milliseconds (UTC).
    pub fn from_unix_ms(ms: i64) -> Date {
        // Howard Hinnant's days-to-civil algorithm.
        let z = ms.div_euclid(86_400_000) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DateParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DateParseError(s.chars().take(32).collect());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, DateParseError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            part.parse().map_err(|_| err())
        };
        Date::new(num(0..4)?, num(5..7)? as u8, num(8..10)? as u8).ok_or_else(err)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .description(Some("A calendar date, `YYYY-MM-DD`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Date {}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_reject_garbage() {
        assert_eq!("2026-11-15".parse::<Date>().unwrap(), Date::new(2026, 11, 15).unwrap());
        assert!("2024-02-29".parse::<Date>().is_ok());
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-11-15",
            "2026/11/15",
            "2026-1-155",
            "",
            "２０２６-11-15",
            "+026-11-15",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn unix_conversion_round_trips() {
        let d = Date::from_unix_ms(1_795_000_000_000);
        assert_eq!(d.to_string(), "2026-11-18");
        assert_eq!(d.days_since_epoch() * 86_400_000, 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000);
        assert_eq!(Date::from_unix_ms(0).to_string(), "1970-01-01");
    }

    #[test]
    fn record_ids_are_v7_and_ordered() {
        let a = RecordId::new_v7(1_000);
        let b = RecordId::new_v7(2_000);
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < b);
    }
}
