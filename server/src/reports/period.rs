//! The period a report covers: a month, a quarter, a year, the Action Month (15 November to
//! 15 December, "Tháng hành động vì bình đẳng giới và phòng ngừa, ứng phó với bạo lực trên cơ sở
//! giới") or any range of days, read from a query string with errors a person can act on.

use serde::Deserialize;
use sotay_sync_core::Date;

/// Exactly one of these names the period (`?month=2026-11`, `?quarter=2026-Q4`, `?year=2026`,
/// `?action_month=2026`, `?from=2026-01-01&to=2026-03-31`).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// `YYYY-MM` (exactly one of month, quarter, year, action_month, or from and to).
    pub month: Option<String>,
    /// `YYYY-Qn`.
    pub quarter: Option<String>,
    /// `YYYY`.
    pub year: Option<String>,
    /// `YYYY`: that year's Action Month (15 November to 15 December).
    pub action_month: Option<String>,
    /// First day, `YYYY-MM-DD` (with `to`).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (with `from`).
    pub to: Option<String>,
}

/// A closed range of days with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
    /// Its name in Vietnamese ("Tháng 11/2026").
    pub label: String,
}

fn year(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| format!("{s:?} is not a year from 2000 to 2100"))
}

fn last_day(year: u16, month: u8) -> Date {
    (28..=31).rev().find_map(|d| Date::new(year, month, d)).expect("every month has a 28th")
}

impl Period {
    /// Reads the period of a query; the message says what is wrong and what is expected.
    pub fn parse(q: &PeriodQuery) -> Result<Period, String> {
        let given = [&q.month, &q.quarter, &q.year, &q.action_month].iter().filter(|v| v.is_some()).count()
            + usize::from(q.from.is_some() || q.to.is_some());
        if given != 1 {
            return Err(
                "give exactly one period: month=YYYY-MM, quarter=YYYY-Qn, year=YYYY, action_month=YYYY, or from=YYYY-MM-DD&to=YYYY-MM-DD"
                    .into(),
            );
        }
        if let Some(m) = &q.month {
            let (y, mo) = m.split_once('-').ok_or_else(|| format!("month {m:?} is not YYYY-MM"))?;
            let y = year(y)?;
            let mo: u8 = mo
                .parse()
                .ok()
                .filter(|m| (1..=12).contains(m))
                .ok_or_else(|| format!("month {m:?} is not YYYY-MM"))?;
            let from = Date::new(y, mo, 1).expect("the first of a month exists");
            return Ok(Period { from, to: last_day(y, mo), label: format!("Tháng {mo}/{y}") });
        }
        if let Some(qs) = &q.quarter {
            let bad = || format!("quarter {qs:?} is not YYYY-Qn with n from 1 to 4");
            let (y, n) = qs.split_once("-Q").or_else(|| qs.split_once("-q")).ok_or_else(bad)?;
            let y = year(y)?;
            let n: u8 = n.parse().ok().filter(|n| (1..=4).contains(n)).ok_or_else(bad)?;
            let from = Date::new(y, 3 * n - 2, 1).expect("a quarter starts on the first");
            return Ok(Period { from, to: last_day(y, 3 * n), label: format!("Quý {n}/{y}") });
        }
        if let Some(y) = &q.year {
            let y = year(y)?;
            let (from, to) = (Date::new(y, 1, 1).expect("1 January"), Date::new(y, 12, 31).expect("31 December"));
            return Ok(Period { from, to, label: format!("Năm {y}") });
        }
        if let Some(y) = &q.action_month {
            let y = year(y)?;
            let (from, to) = (Date::new(y, 11, 15).expect("15 November"), Date::new(y, 12, 15).expect("15 December"));
            return Ok(Period { from, to, label: format!("Tháng hành động {y} (15/11–15/12)") });
        }
        let (Some(from), Some(to)) = (&q.from, &q.to) else {
            return Err("a range needs both from=YYYY-MM-DD and to=YYYY-MM-DD".into());
        };
        let from: Date = from.parse().map_err(|_| format!("from {from:?} is not a date YYYY-MM-DD"))?;
        let to: Date = to.parse().map_err(|_| format!("to {to:?} is not a date YYYY-MM-DD"))?;
        if to < from {
            return Err(format!("the range ends ({to}) before it starts ({from})"));
        }
        if to.days_since_epoch() - from.days_since_epoch() > 366 * 5 {
            return Err("a range may cover at most five years".into());
        }
        Ok(Period { from, to, label: format!("Từ {} đến {}", vi(from), vi(to)) })
    }
}

/// `15/11/2026`.
pub fn vi(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day, d.month, d.year)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(f: impl FnOnce(&mut PeriodQuery)) -> Result<Period, String> {
        let mut q = PeriodQuery::default();
        f(&mut q);
        Period::parse(&q)
    }

    #[test]
    fn each_kind_of_period_and_clear_errors() {
        let m = p(|q| q.month = Some("2026-02".into())).unwrap();
        assert_eq!((m.from.to_string(), m.to.to_string()), ("2026-02-01".into(), "2026-02-28".into()));
        let q4 = p(|q| q.quarter = Some("2026-Q4".into())).unwrap();
        assert_eq!((q4.from.to_string(), q4.to.to_string()), ("2026-10-01".into(), "2026-12-31".into()));
        let am = p(|q| q.action_month = Some("2026".into())).unwrap();
        assert_eq!((am.from.to_string(), am.to.to_string()), ("2026-11-15".into(), "2026-12-15".into()));
        assert_eq!(p(|q| q.year = Some("2026".into())).unwrap().to.to_string(), "2026-12-31");
        let r = p(|q| {
            q.from = Some("2026-03-01".into());
            q.to = Some("2026-03-31".into());
        })
        .unwrap();
        assert_eq!(r.label, "Từ 01/03/2026 đến 31/03/2026");
        for (bad, says) in [
            (p(|_| {}), "exactly one"),
            (p(|q| q.month = Some("2026-13".into())), "YYYY-MM"),
            (p(|q| q.quarter = Some("2026-Q5".into())), "quarter"),
            (p(|q| q.year = Some("26".into())), "year"),
            (p(|q| q.from = Some("2026-03-01".into())), "both"),
            (
                p(|q| {
                    q.from = Some("2026-03-31".into());
                    q.to = Some("2026-03-01".into());
                }),
                "before it starts",
            ),
            (
                p(|q| {
                    q.from = Some("2026-02-30".into());
                    q.to = Some("2026-03-01".into());
                }),
                "not a date",
            ),
            (
                p(|q| {
                    q.month = Some("2026-01".into());
                    q.year = Some("2026".into());
                }),
                "exactly one",
            ),
        ] {
            assert!(bad.as_ref().unwrap_err().contains(says), "{bad:?} should say {says}");
        }
    }
}
