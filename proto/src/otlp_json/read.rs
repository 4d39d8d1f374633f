//! The reading framework of the OTLP/JSON decoder.
//!
//! In: serde deserializer events. Out: model values, via a [`Read`] impl per
//! value type (scalars here, messages in `messages`), while a [`Path`] keeps
//! where in the document the decoder is, for error messages.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{self, span};

pub(super) enum Seg {
    Field(&'static str),
    Index(usize),
}

#[derive(Default)]
pub(super) struct Path(pub(super) Vec<Seg>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("body");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Field(name) if i == 0 => f.write_str(name)?,
                Seg::Field(name) => write!(f, ".{name}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Reading framework: every value type knows how to read itself from a
// deserializer while keeping the path up to date.

pub(super) trait Read: Sized {
    fn read<'de, D: Deserializer<'de>>(de: D, path: &mut Path) -> Result<Self, D::Error>;
}

struct Seed<'p, T> {
    path: &'p mut Path,
    _t: PhantomData<T>,
}

impl<'p, T> Seed<'p, T> {
    fn new(path: &'p mut Path) -> Self {
        Seed {
            path,
            _t: PhantomData,
        }
    }
}

impl<'de, T: Read> DeserializeSeed<'de> for Seed<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        T::read(de, self.path)
    }
}

/// Reads the value of the field whose key was just read.
pub(super) fn next<'de, T: Read, A: MapAccess<'de>>(
    map: &mut A,
    path: &mut Path,
) -> Result<T, A::Error> {
    map.next_value_seed(Seed::<T>::new(path))
}

/// Field names a message accepts, each mapped to a field number.
pub(super) type Fields = &'static [(&'static str, u8)];

/// A message: a JSON object whose known fields are read one by one.
pub(super) trait Message: Default {
    const EXPECTING: &'static str;
    const FIELDS: Fields;
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        field: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error>;
}

struct KeySeed(Fields);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<(u8, &'static str)>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<(u8, &'static str)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .find(|(name, _)| *name == v)
            .map(|&(name, id)| (id, name)))
    }
}

struct MessageVisitor<'p, M> {
    path: &'p mut Path,
    _m: PhantomData<M>,
}

impl<'de, M: Message> Visitor<'de> for MessageVisitor<'_, M> {
    type Value = Option<M>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(M::EXPECTING)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut msg = M::default();
        while let Some(key) = map.next_key_seed(KeySeed(M::FIELDS))? {
            match key {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some((id, name)) => {
                    self.path.0.push(Seg::Field(name));
                    msg.read_field(id, &mut map, self.path)?;
                    self.path.0.pop();
                }
            }
        }
        Ok(Some(msg))
    }
}

/// An optional message field: `null` is absent.
impl<M: Message> Read for Option<M> {
    fn read<'de, D: Deserializer<'de>>(de: D, path: &mut Path) -> Result<Self, D::Error> {
        de.deserialize_option(MessageVisitor {
            path,
            _m: PhantomData,
        })
    }
}

/// A repeated field: a JSON array (`null` is empty).
pub(super) struct List<T>(pub(super) Vec<T>);

struct ListVisitor<'p, T> {
    path: &'p mut Path,
    _t: PhantomData<T>,
}

impl<'de, T: Read> Visitor<'de> for ListVisitor<'_, T> {
    type Value = List<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(List(Vec::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(List(Vec::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            self.path.0.push(Seg::Index(items.len()));
            match seq.next_element_seed(Seed::<T>::new(self.path))? {
                Some(item) => items.push(item),
                None => break,
            }
            self.path.0.pop();
        }
        self.path.0.pop();
        Ok(List(items))
    }
}

impl<T: Read> Read for List<T> {
    fn read<'de, D: Deserializer<'de>>(de: D, path: &mut Path) -> Result<Self, D::Error> {
        de.deserialize_option(ListVisitor {
            path,
            _t: PhantomData,
        })
    }
}

/// Elements of a list of messages: a `null` element is an empty message.
impl<M: Message> Read for M {
    fn read<'de, D: Deserializer<'de>>(de: D, path: &mut Path) -> Result<Self, D::Error> {
        Ok(Option::<M>::read(de, path)?.unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------
// Scalars.

/// Shortens text quoted in an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}…", &text[..end]),
    }
}

macro_rules! scalar_reader {
    ($ty:ty, $expecting:literal, { $($visit:item)* }) => {
        impl Read for $ty {
            fn read<'de, D: Deserializer<'de>>(de: D, _path: &mut Path) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    $($visit)*
                }
                de.deserialize_any(V)
            }
        }
    };
}

/// A trace or span id: hex text in any case; empty or `null` = absent.
pub(super) struct HexId(pub(super) Bytes);

scalar_reader!(HexId, "a hex string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<HexId, E> {
        decode_hex(v)
            .map(|b| HexId(Bytes::from(b)))
            .map_err(E::custom)
    }
    fn visit_unit<E: de::Error>(self) -> Result<HexId, E> {
        Ok(HexId(Bytes::new()))
    }
});

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let raw = text.as_bytes();
    if raw.len() % 2 != 0 {
        return Err(format!(
            "not hex: {} has an odd number of digits",
            excerpt(text)
        ));
    }
    raw.chunks_exact(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => Ok((hi << 4) | lo),
            _ => Err(format!("not hex: {}", excerpt(text))),
        })
        .collect()
}

/// `bytesValue`: base64, standard or URL-safe alphabet, padding optional.
pub(super) struct Base64(pub(super) Bytes);

scalar_reader!(Base64, "a base64 string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Base64, E> {
        decode_base64(v)
            .map(|b| Base64(Bytes::from(b)))
            .ok_or_else(|| E::custom(format!("not base64: {}", excerpt(v))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Base64, E> {
        Ok(Base64(Bytes::new()))
    }
});

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::alphabet;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    let engine = if text.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine.decode(text).ok()
}

/// Parses an integer written as a JSON string: decimal, or an integral number
/// in exponent form.
fn parse_int_text(v: &str) -> Option<i128> {
    let t = v.trim();
    if let Ok(n) = t.parse::<i128>() {
        return Some(n);
    }
    let f = t.parse::<f64>().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1.9e19).then_some(f as i128)
}

macro_rules! int_reader {
    ($name:ident, $ty:ty, $expecting:literal) => {
        pub(super) struct $name(pub(super) $ty);

        impl $name {
            fn from_wide<E: de::Error>(n: i128) -> Result<Self, E> {
                <$ty>::try_from(n)
                    .map($name)
                    .map_err(|_| E::custom(format!("{n} is out of range for {}", $expecting)))
            }
        }

        scalar_reader!($name, $expecting, {
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                $name::from_wide(i128::from(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                $name::from_wide(i128::from(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.9e19 {
                    $name::from_wide(v as i128)
                } else {
                    Err(E::custom(format!("{v} is not {}", $expecting)))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                match parse_int_text(v) {
                    Some(n) => $name::from_wide(n),
                    None => Err(E::custom(format!("{} is not {}", excerpt(v), $expecting))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<$name, E> {
                Ok($name(0))
            }
        });
    };
}

int_reader!(U64, u64, "an unsigned 64-bit integer");
int_reader!(I64, i64, "a 64-bit integer");
int_reader!(U32, u32, "an unsigned 32-bit integer");

/// An enum: an integer, a decimal string, or the value's name.
pub(super) struct Enum<K>(pub(super) i32, PhantomData<K>);

pub(super) trait EnumNames {
    const WHAT: &'static str;
    fn from_name(name: &str) -> Option<i32>;
}

impl EnumNames for span::SpanKind {
    const WHAT: &'static str = "span kind";
    fn from_name(name: &str) -> Option<i32> {
        span::SpanKind::from_str_name(&name.to_ascii_uppercase()).map(|k| k as i32)
    }
}

impl EnumNames for model::StatusCode {
    const WHAT: &'static str = "status code";
    fn from_name(name: &str) -> Option<i32> {
        model::StatusCode::from_str_name(&name.to_ascii_uppercase()).map(|k| k as i32)
    }
}

impl<K: EnumNames> Read for Enum<K> {
    fn read<'de, D: Deserializer<'de>>(de: D, _path: &mut Path) -> Result<Self, D::Error> {
        struct V<K>(PhantomData<K>);
        impl<K: EnumNames> V<K> {
            fn from_wide<E: de::Error>(n: i128) -> Result<Enum<K>, E> {
                i32::try_from(n)
                    .map(|v| Enum(v, PhantomData))
                    .map_err(|_| E::custom(format!("{n} is out of range for a {}", K::WHAT)))
            }
        }
        impl<K: EnumNames> Visitor<'_> for V<K> {
            type Value = Enum<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} as an integer or a name", K::WHAT)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Enum<K>, E> {
                Self::from_wide(i128::from(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Enum<K>, E> {
                Self::from_wide(i128::from(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Enum<K>, E> {
                if let Some(n) = K::from_name(v) {
                    return Ok(Enum(n, PhantomData));
                }
                match v.trim().parse::<i128>() {
                    Ok(n) => Self::from_wide(n),
                    Err(_) => Err(E::custom(format!("unknown {} {}", K::WHAT, excerpt(v)))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Enum<K>, E> {
                Ok(Enum(0, PhantomData))
            }
        }
        de.deserialize_any(V(PhantomData))
    }
}

/// `doubleValue`: a number, a numeric string, or `"NaN"`/`"Infinity"`/`"-Infinity"`.
pub(super) struct F64(pub(super) f64);

scalar_reader!(F64, "a number or \"NaN\", \"Infinity\", \"-Infinity\"", {
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
        Ok(F64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
        Ok(F64(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
        Ok(F64(v as f64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
        match v {
            "NaN" => Ok(F64(f64::NAN)),
            "Infinity" => Ok(F64(f64::INFINITY)),
            "-Infinity" => Ok(F64(f64::NEG_INFINITY)),
            _ => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(F64)
                .ok_or_else(|| E::custom(format!("{} is not a number", excerpt(v)))),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<F64, E> {
        Ok(F64(0.0))
    }
});

/// A string field (`null` = empty).
pub(super) struct Str(pub(super) String);

scalar_reader!(Str, "a string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
        Ok(Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Str, E> {
        Ok(Str(String::new()))
    }
});

/// A bool field: `true`/`false` (also as strings); `null` = false.
pub(super) struct Bool(pub(super) bool);

scalar_reader!(Bool, "a boolean", {
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
        Ok(Bool(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool, E> {
        match v {
            "true" => Ok(Bool(true)),
            "false" => Ok(Bool(false)),
            _ => Err(E::custom(format!("{} is not a boolean", excerpt(v)))),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Bool, E> {
        Ok(Bool(false))
    }
});
