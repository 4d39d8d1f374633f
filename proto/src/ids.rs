//! Trace and span identifiers: parsing and printing in the spellings every
//! protocol uses.
//!
//! In: hex text (1–32 chars, any case), or big-endian bytes (8 or 16 for trace
//! ids, 8 for span ids). Out: [`TraceId`] and [`SpanId`] values and their text
//! forms (Jaeger's 16-or-32 char form, OTLP's fixed 32/16 char form).

use std::fmt;

/// A 128-bit trace id. 64-bit ids have the high half zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// A 64-bit span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

/// Why an id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id {0:?} is longer than {1} hex characters")]
    TooLong(String, usize),
    #[error("id {0:?} is not hexadecimal")]
    NotHex(String),
    #[error("id has {0} bytes, expected {1}")]
    BadLength(usize, &'static str),
}

fn parse_hex_u128(text: &str, max_chars: usize) -> Result<u128, IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    if text.len() > max_chars {
        return Err(IdError::TooLong(text.to_string(), max_chars));
    }
    let mut value: u128 = 0;
    for byte in text.bytes() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => return Err(IdError::NotHex(text.to_string())),
        };
        value = (value << 4) | u128::from(digit);
    }
    Ok(value)
}

impl TraceId {
    /// Parses 1–32 hex characters, case-insensitive; shorter text is left-padded.
    pub fn parse_hex(text: &str) -> Result<Self, IdError> {
        parse_hex_u128(text, 32).map(TraceId)
    }

    /// Reads 8 or 16 big-endian bytes; an empty slice is the zero id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        match bytes.len() {
            0 => Ok(TraceId(0)),
            8 => Ok(TraceId(u128::from(u64::from_be_bytes(
                bytes.try_into().expect("8 bytes"),
            )))),
            16 => Ok(TraceId(u128::from_be_bytes(
                bytes.try_into().expect("16 bytes"),
            ))),
            n => Err(IdError::BadLength(n, "8 or 16")),
        }
    }

    /// The 16 big-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// High 64 bits.
    pub fn high(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// Low 64 bits.
    pub fn low(self) -> u64 {
        self.0 as u64
    }

    /// Builds an id from its halves.
    pub fn from_halves(high: u64, low: u64) -> Self {
        TraceId((u128::from(high) << 64) | u128::from(low))
    }

    /// True for the all-zero (invalid) id.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Jaeger's text form: 16 hex chars when the high half is zero, else 32.
    pub fn to_jaeger_hex(self) -> String {
        if self.high() == 0 {
            format!("{:016x}", self.low())
        } else {
            format!("{:032x}", self.0)
        }
    }

    /// OTLP's text form: always 32 lowercase hex chars.
    pub fn to_hex32(self) -> String {
        format!("{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl SpanId {
    /// Parses 1–16 hex characters, case-insensitive; shorter text is left-padded.
    pub fn parse_hex(text: &str) -> Result<Self, IdError> {
        parse_hex_u128(text, 16).map(|v| SpanId(v as u64))
    }

    /// Reads 8 big-endian bytes; an empty slice is the zero id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        match bytes.len() {
            0 => Ok(SpanId(0)),
            8 => Ok(SpanId(u64::from_be_bytes(
                bytes.try_into().expect("8 bytes"),
            ))),
            n => Err(IdError::BadLength(n, "8")),
        }
    }

    /// The 8 big-endian bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// True for the all-zero id (no span).
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Always 16 lowercase hex chars.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_padded_trace_ids_name_the_same_trace() {
        let a = TraceId::parse_hex("1").unwrap();
        let b = TraceId::parse_hex("0000000000000001").unwrap();
        let c = TraceId::parse_hex("00000000000000000000000000000001").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.to_jaeger_hex(), "0000000000000001");
        assert_eq!(a.to_hex32(), "00000000000000000000000000000001");
    }

    #[test]
    fn trace_id_with_high_half_prints_32_chars() {
        let id = TraceId::parse_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.to_jaeger_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(TraceId::from_bytes(&id.to_bytes()).unwrap(), id);
    }

    #[test]
    fn bad_trace_ids_are_rejected_with_reason() {
        assert_eq!(TraceId::parse_hex(""), Err(IdError::Empty));
        assert!(matches!(TraceId::parse_hex("xyz"), Err(IdError::NotHex(_))));
        assert!(matches!(
            TraceId::parse_hex(&"1".repeat(33)),
            Err(IdError::TooLong(..))
        ));
        assert!(matches!(
            TraceId::from_bytes(&[1, 2, 3]),
            Err(IdError::BadLength(3, _))
        ));
    }

    #[test]
    fn eight_byte_trace_id_is_the_low_half() {
        let id = TraceId::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 7]).unwrap();
        assert_eq!(id, TraceId(7));
    }

    proptest::proptest! {
        #[test]
        fn trace_id_hex_round_trips(v in proptest::prelude::any::<u128>()) {
            let id = TraceId(v);
            proptest::prop_assert_eq!(TraceId::parse_hex(&id.to_hex32()).unwrap(), id);
            proptest::prop_assert_eq!(TraceId::parse_hex(&id.to_jaeger_hex()).unwrap(), id);
        }

        #[test]
        fn span_id_hex_round_trips(v in proptest::prelude::any::<u64>()) {
            let id = SpanId(v);
            proptest::prop_assert_eq!(SpanId::parse_hex(&id.to_hex()).unwrap(), id);
        }
    }
}
