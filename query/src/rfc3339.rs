//! RFC 3339 timestamps, as api_v3's HTTP parameters carry them.
//!
//! In: text such as `2024-06-10T06:00:00Z`, `2024-06-10T06:00:00.123456789+02:00`
//! (also Grafana's unescaped form, where the `+` of an offset arrived as a
//! space). Out: nanoseconds since the Unix epoch (signed, so instants before
//! 1970 — including the year-1 "unset" value gRPC clients send — are
//! representable), or an [`Rfc3339Error`].

/// Why a timestamp was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {text:?} as an RFC 3339 timestamp")]
pub struct Rfc3339Error {
    text: String,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn number(text: &str, digits: usize) -> Option<u32> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses an RFC 3339 timestamp into ns since the epoch.
///
/// Accepts `T`, `t` or a space between date and time, any number of
/// fractional digits (beyond nanoseconds truncated), `Z`/`z`, `±hh:mm`, and a
/// space in place of the `+` of an offset.
pub fn parse_rfc3339(text: &str) -> Result<i128, Rfc3339Error> {
    parse(text.trim()).ok_or_else(|| Rfc3339Error {
        text: text.to_string(),
    })
}

fn parse(text: &str) -> Option<i128> {
    if !text.is_ascii() || text.len() < 20 {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let mut date_parts = date.split('-');
    let year = i64::from(number(date_parts.next()?, 4)?);
    let month = number(date_parts.next()?, 2)?;
    let day = number(date_parts.next()?, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, rest) = rest.split_at(8);
    let mut clock_parts = clock.split(':');
    let hour = number(clock_parts.next()?, 2)?;
    let minute = number(clock_parts.next()?, 2)?;
    let second = number(clock_parts.next()?, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = rest;
    let mut nanos: i128 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut value = 0i128;
        for (i, b) in fraction.bytes().take(digits).enumerate() {
            if i < 9 {
                value = value * 10 + i128::from(b - b'0');
            }
        }
        for _ in digits..9 {
            value *= 10;
        }
        nanos = value;
        rest = &fraction[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hhmm) = match rest.as_bytes().first()? {
                b'+' | b' ' => (1, &rest[1..]),
                b'-' => (-1, &rest[1..]),
                _ => return None,
            };
            let (hh, mm) = hhmm.split_once(':')?;
            let (hh, mm) = (number(hh, 2)?, number(mm, 2)?);
            if hh > 23 || mm > 59 {
                return None;
            }
            sign * i64::from(hh * 3600 + mm * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_secs;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_offsets_give_the_same_instant() {
        let utc = parse_rfc3339("2024-06-10T06:00:00Z").unwrap();
        assert_eq!(utc, 1_717_999_200 * 1_000_000_000);
        assert_eq!(parse_rfc3339("2024-06-10T08:00:00+02:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2024-06-10T05:30:00-00:30").unwrap(), utc);
        assert_eq!(parse_rfc3339("2024-06-10t06:00:00z").unwrap(), utc);
    }

    #[test]
    fn grafanas_unescaped_plus_arrives_as_a_space_and_still_parses() {
        let utc = parse_rfc3339("2024-06-10T06:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2024-06-10T08:00:00 02:00").unwrap(), utc);
    }

    #[test]
    fn fractions_are_kept_to_the_nanosecond() {
        let base = parse_rfc3339("2024-06-10T06:00:00Z").unwrap();
        assert_eq!(
            parse_rfc3339("2024-06-10T06:00:00.123Z").unwrap(),
            base + 123_000_000
        );
        assert_eq!(
            parse_rfc3339("2024-06-10T06:00:00.123456789123Z").unwrap(),
            base + 123_456_789
        );
    }

    #[test]
    fn the_epoch_and_year_one_are_representable() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z").unwrap(),
            -62_135_596_800 * 1_000_000_000
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z").unwrap(),
            951_782_400 * 1_000_000_000
        );
    }

    #[test]
    fn malformed_text_is_rejected() {
        for bad in [
            "",
            "2024-06-10",
            "2024-06-10T06:00:00",
            "2024-13-10T06:00:00Z",
            "2023-02-29T06:00:00Z",
            "2024-06-10T24:00:00Z",
            "2024-06-10T06:00:00.Z",
            "2024-06-10T06:00:00+0200",
            "1718000000",
            "2024-06-10T06:00:00Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
    }
}
