//! Calendar dates of the audit: parsing what people type, China Standard Time for
//! deadlines, and the whole-month arithmetic of the six-month rules.
//!
//! Invariant: a `proto::Date` with `year == 0` means "not given"; every function here
//! treats it as absent rather than as year 0.

use chrono::{Datelike, NaiveDate};

use crate::proto;

/// China Standard Time offset (UTC+8), in milliseconds.
pub const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;

const DAY_MS: i64 = 86_400_000;

/// The date, if one was given and it exists on the calendar.
pub fn naive(date: &proto::Date) -> Option<NaiveDate> {
    if date.year == 0 {
        return None;
    }
    NaiveDate::from_ymd_opt(date.year, date.month, date.day)
}

/// The same date, as the wire type.
pub fn from_naive(date: NaiveDate) -> proto::Date {
    proto::Date { year: date.year(), month: date.month(), day: date.day() }
}

/// The optional wire date as a calendar date.
pub fn opt(date: Option<&proto::Date>) -> Option<NaiveDate> {
    date.and_then(naive)
}

/// The China Standard Time calendar day of an instant (ms since the Unix epoch).
pub fn cst_day(ms: u64) -> NaiveDate {
    let days = (ms as i64 + CST_OFFSET_MS).div_euclid(DAY_MS);
    NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32).expect("a u64 of milliseconds is a valid date")
}

/// The instant a deadline ends: the end of `date` in China Standard Time, as ms since
/// the Unix epoch (deadlines are end of day, DOMAIN.md section 4).
pub fn end_of_day_cst_ms(date: NaiveDate) -> u64 {
    let days = i64::from(date.num_days_from_ce() - 719_163) + 1;
    (days * DAY_MS - CST_OFFSET_MS).max(0) as u64
}

/// Whole months from `from` to `to` (negative when `to` is earlier): 2024-01-31 to
/// 2024-07-30 is 5, to 2024-07-31 is 6.
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> i64 {
    let mut months = i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month());
    if months > 0 && to.day() < from.day() {
        months -= 1;
    } else if months < 0 && to.day() > from.day() {
        months += 1;
    }
    months
}

/// Parses a date as people write it: `2024-03-05`, `2024/3/5`, `2024.03.05`,
/// `2024年3月5日`, or `20240305`; `2024-03` means the first of the month.
pub fn parse(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(text, "%Y%m%d").ok();
    }
    let normalised: String = text
        .chars()
        .map(|c| match c {
            '/' | '.' | '年' | '月' => '-',
            other => other,
        })
        .filter(|c| *c != '日')
        .collect();
    let parts: Vec<&str> = normalised.split('-').filter(|part| !part.is_empty()).collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|part| part.trim().parse().ok()).collect();
    match numbers?.as_slice() {
        [year, month, day] => NaiveDate::from_ymd_opt(*year as i32, *month, *day),
        [year, month] => NaiveDate::from_ymd_opt(*year as i32, *month, 1),
        _ => None,
    }
}

/// `YYYY-MM-DD`, or an empty string for "not given".
pub fn display(date: &proto::Date) -> String {
    naive(date).map(|date| date.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn whole_months_counts_completed_months_only() {
        assert_eq!(whole_months(day(2024, 1, 31), day(2024, 7, 30)), 5);
        assert_eq!(whole_months(day(2024, 1, 31), day(2024, 7, 31)), 6);
        assert_eq!(whole_months(day(2024, 1, 15), day(2024, 1, 20)), 0);
        assert_eq!(whole_months(day(2024, 7, 31), day(2024, 1, 31)), -6);
        assert_eq!(whole_months(day(2000, 2, 29), day(2024, 2, 28)), 287);
    }

    #[test]
    fn parse_accepts_the_ways_people_write_dates() {
        for text in ["2024-03-05", "2024/3/5", "2024.03.05", "2024年3月5日", "20240305", " 2024-3-5 "] {
            assert_eq!(parse(text), Some(day(2024, 3, 5)), "{text}");
        }
        assert_eq!(parse("2024-03"), Some(day(2024, 3, 1)));
        for text in ["", "2024-02-30", "yesterday", "2024-13-01", "1.2.3.4"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn deadlines_end_at_midnight_china_time() {
        // 2025-04-15 24:00 CST = 2025-04-15 16:00 UTC.
        let end = end_of_day_cst_ms(day(2025, 4, 15));
        assert_eq!(end, 1_744_732_800_000);
        assert_eq!(cst_day(end - 1), day(2025, 4, 15));
        assert_eq!(cst_day(end), day(2025, 4, 16));
    }
}
