//! Go duration strings, the way Jaeger reads and writes them.
//!
//! In: text such as `1.5s`, `1m30s`, `150ms`, `0` (search parameters
//! `minDuration`/`maxDuration`). Out: signed nanoseconds, and back to text in
//! Go's `time.Duration.String()` form (`1.2ms`, `350µs`, `1h0m0s`) for the
//! warnings the adjusters attach to spans.
//!
//! Parse errors carry Go's wording (`time: invalid duration "x"`,
//! `time: missing unit in duration "100"`, `time: unknown unit "x" in duration
//! "1x"`) because Jaeger passes them through to its users.

/// Why a duration string was rejected; the text is Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {}", quote(.0))]
    Invalid(String),
    #[error("time: missing unit in duration {}", quote(.0))]
    MissingUnit(String),
    #[error("time: unknown unit {} in duration {}", quote(.0), quote(.1))]
    UnknownUnit(String, String),
}

/// Go's `strconv.Quote` for the plain text that appears in these messages.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign
    ("μs", 1_000), // U+03BC Greek small letter mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string into signed nanoseconds.
///
/// Grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-zµμ]+)+`, or the bare `0`. A bare
/// number other than zero has no unit and is rejected.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(text.to_string());
    let mut rest = text;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let limit: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for digit in rest[..int_len].bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .filter(|v| *v <= limit)
                .ok_or_else(invalid)?;
        }
        rest = &rest[int_len..];
        // Fraction part: digits beyond what fits are read but ignored.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut fraction_len = 0;
        if let Some(after_dot) = rest.strip_prefix('.') {
            fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflowed = false;
            for digit in after_dot[..fraction_len].bytes() {
                if overflowed {
                    continue;
                }
                match fraction
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                {
                    Some(v) if v <= limit => {
                        fraction = v;
                        scale *= 10.0;
                    }
                    _ => overflowed = true,
                }
            }
            rest = &after_dot[fraction_len..];
        }
        if int_len == 0 && fraction_len == 0 {
            return Err(invalid());
        }
        // Unit: everything up to the next digit or dot.
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(text.to_string()));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per_unit = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::UnknownUnit(unit.to_string(), text.to_string()))?;
        let mut value = whole
            .checked_mul(nanos_per_unit)
            .filter(|v| *v <= limit)
            .ok_or_else(invalid)?;
        if fraction > 0 {
            // Go computes this part in floating point as well.
            value = value
                .checked_add((fraction as f64 * (nanos_per_unit as f64 / scale)) as u64)
                .filter(|v| *v <= limit)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(value)
            .filter(|v| *v <= limit)
            .ok_or_else(invalid)?;
    }
    if negative {
        // -(1<<63) is representable.
        Ok((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

/// Formats signed nanoseconds like Go's `time.Duration.String()`.
pub fn format_go_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let magnitude = nanos.unsigned_abs();
    let mut text = if magnitude == 0 {
        "0s".to_string()
    } else if magnitude < 1_000 {
        format!("{magnitude}ns")
    } else if magnitude < 1_000_000 {
        format!("{}µs", with_fraction(magnitude, 3))
    } else if magnitude < 1_000_000_000 {
        format!("{}ms", with_fraction(magnitude, 6))
    } else {
        let seconds_text = with_fraction(magnitude % 60_000_000_000, 9);
        let minutes = magnitude / 60_000_000_000;
        if minutes == 0 {
            format!("{seconds_text}s")
        } else if minutes < 60 {
            format!("{minutes}m{seconds_text}s")
        } else {
            format!("{}h{}m{seconds_text}s", minutes / 60, minutes % 60)
        }
    };
    if negative {
        text.insert(0, '-');
    }
    text
}

/// `value / 10^digits` with the fraction's trailing zeros (and a bare dot) dropped.
fn with_fraction(value: u64, digits: u32) -> String {
    let divisor = 10u64.pow(digits);
    let whole = value / divisor;
    let fraction = value % divisor;
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction_text = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction_text.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;

    #[test]
    fn every_go_unit_is_accepted() {
        assert_eq!(parse_go_duration("7ns"), Ok(7));
        assert_eq!(parse_go_duration("7us"), Ok(7_000));
        assert_eq!(parse_go_duration("7µs"), Ok(7_000));
        assert_eq!(parse_go_duration("7μs"), Ok(7_000));
        assert_eq!(parse_go_duration("7ms"), Ok(7 * MS));
        assert_eq!(parse_go_duration("7s"), Ok(7 * S));
        assert_eq!(parse_go_duration("7m"), Ok(7 * 60 * S));
        assert_eq!(parse_go_duration("7h"), Ok(7 * 3600 * S));
    }

    #[test]
    fn decimals_and_combinations_add_up() {
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500 * MS));
        assert_eq!(parse_go_duration("1m30s"), Ok(90 * S));
        assert_eq!(parse_go_duration("1h2m3.5s"), Ok(3723 * S + 500 * MS));
        assert_eq!(parse_go_duration(".5ms"), Ok(500_000));
        assert_eq!(parse_go_duration("1.ms"), Ok(MS));
        assert_eq!(parse_go_duration("+2s"), Ok(2 * S));
        assert_eq!(parse_go_duration("-2s"), Ok(-2 * S));
        assert_eq!(parse_go_duration("150ms"), Ok(150 * MS));
    }

    #[test]
    fn bare_zero_is_valid_and_other_bare_numbers_are_not() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
        assert_eq!(
            parse_go_duration("100").unwrap_err().to_string(),
            "time: missing unit in duration \"100\""
        );
        assert_eq!(
            parse_go_duration("1.5").unwrap_err().to_string(),
            "time: missing unit in duration \"1.5\""
        );
    }

    #[test]
    fn malformed_durations_get_go_messages() {
        assert_eq!(
            parse_go_duration("").unwrap_err().to_string(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_go_duration(".s").unwrap_err().to_string(),
            "time: invalid duration \".s\""
        );
        assert_eq!(
            parse_go_duration("-").unwrap_err().to_string(),
            "time: invalid duration \"-\""
        );
        assert_eq!(
            parse_go_duration("1x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            parse_go_duration("1 s").unwrap_err().to_string(),
            "time: unknown unit \" s\" in duration \"1 s\""
        );
        assert!(matches!(
            parse_go_duration("9999999999h"),
            Err(DurationError::Invalid(_))
        ));
    }

    #[test]
    fn formatting_follows_go_duration_string() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(999), "999ns");
        assert_eq!(format_go_duration(1_500), "1.5µs");
        assert_eq!(format_go_duration(350_000), "350µs");
        assert_eq!(format_go_duration(1_200_000), "1.2ms");
        assert_eq!(format_go_duration(2_500 * MS), "2.5s");
        assert_eq!(format_go_duration(90 * S), "1m30s");
        assert_eq!(format_go_duration(3600 * S), "1h0m0s");
        assert_eq!(format_go_duration(-1_200_000), "-1.2ms");
        assert_eq!(format_go_duration(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn formatted_durations_parse_back() {
        for nanos in [1, 999, 1_000, 1_234_567, 61 * S + 5, 7322 * S, -45 * MS] {
            assert_eq!(
                parse_go_duration(&format_go_duration(nanos)),
                Ok(nanos),
                "{nanos}"
            );
        }
    }
}
