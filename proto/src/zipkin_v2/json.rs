//! Zipkin v2 JSON list → [`ZSpan`]s.
//!
//! In: the body bytes. Out: normalised spans, or an error naming the span and field.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::to_model::into_model;
use super::{parse_ip, Endpoint, Kind, ZSpan, ZipkinError};
use crate::model;

/// Decodes a Zipkin v2 JSON list. An empty body or `[]` is an empty batch.
/// `strict` rejects what zipkin-server rejects (upper-case hex, unknown
/// kinds, boolean or `null` tag values, ports above 65535, all-zero ids,
/// leading whitespace); the default accepts those where a meaning is clear.
pub fn decode_json(body: &[u8], strict: bool) -> Result<model::TracesData, ZipkinError> {
    let original = body;
    let mut body = body;
    if !strict {
        body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let start = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(body.len());
        body = &body[start..];
    }
    let looks_like_proto = original.len() > 1 && original[0] == 0x0a && original[1] != 0;
    match body.first() {
        None => return Ok(model::TracesData::default()),
        Some(b'[') => {}
        _ if looks_like_proto => return Err(ZipkinError::NotAList(", but received: PROTO3")),
        Some(b'{') => return Err(ZipkinError::NotAList(", but received: a JSON object")),
        Some(_) => return Err(ZipkinError::NotAList("")),
    }
    let mut path = Path::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = ListSeed {
        path: &mut path,
        strict,
    }
    .deserialize(&mut de)
    .and_then(|spans| de.end().map(|()| spans));
    match result {
        Ok(spans) => Ok(into_model(spans)),
        Err(_) if path.v1 => Err(ZipkinError::V1Body),
        Err(e) => {
            let location = path.to_string();
            let message = e.to_string();
            Err(match e.classify() {
                serde_json::error::Category::Data => ZipkinError::Invalid { location, message },
                _ => ZipkinError::Syntax { location, message },
            })
        }
    }
}

enum Seg {
    Field(&'static str),
    Index(usize),
    Tag(String),
}

/// Where the decoder is: `span 3: localEndpoint.port`.
#[derive(Default)]
struct Path {
    segs: Vec<Seg>,
    /// Set when the body turned out to be Zipkin v1.
    v1: bool,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segs = self.segs.iter();
        match segs.next() {
            None => return f.write_str("list"),
            Some(Seg::Index(i)) => write!(f, "span {i}")?,
            Some(Seg::Field(name)) => f.write_str(name)?,
            Some(Seg::Tag(key)) => write!(f, "{key:?}")?,
        }
        for (i, seg) in segs.enumerate() {
            match seg {
                Seg::Field(name) if i == 0 => write!(f, ": {name}")?,
                Seg::Field(name) => write!(f, ".{name}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Tag(key) => write!(f, "[{key:?}]")?,
            }
        }
        Ok(())
    }
}

/// Shortens text quoted in an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}…", &text[..end]),
    }
}

/// Seeds that read a scalar with `deserialize_any`.
macro_rules! any_seed {
    ($seed:ty => $out:ty) => {
        impl<'de> DeserializeSeed<'de> for $seed {
            type Value = $out;
            fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<$out, D::Error> {
                de.deserialize_any(self)
            }
        }
    };
}

/// Reads the value of the field just read, with `name` on the path.
macro_rules! field {
    ($map:expr, $path:expr, $name:expr, $seed:expr) => {{
        $path.segs.push(Seg::Field($name));
        let value = $map.next_value_seed($seed)?;
        $path.segs.pop();
        value
    }};
}

struct ListSeed<'p> {
    path: &'p mut Path,
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Vec<ZSpan>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Vec<ZSpan>, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<ZSpan>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of Zipkin v2 spans")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<ZSpan>, A::Error> {
        let mut spans = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        for index in 0.. {
            self.path.segs.push(Seg::Index(index));
            let item = seq.next_element_seed(SpanSeed {
                path: &mut *self.path,
                strict: self.strict,
            })?;
            self.path.segs.pop();
            match item {
                None => break,
                Some(Some(span)) => spans.push(span),
                Some(None) => {}
            }
        }
        Ok(spans)
    }
}

#[derive(Default)]
struct RawSpan {
    trace_id: Option<u128>,
    id: Option<u128>,
    parent_id: Option<u128>,
    kind: Option<Kind>,
    name: Option<String>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    local: Option<Endpoint>,
    remote: Option<Endpoint>,
    annotations: Vec<(u64, String)>,
    tags: BTreeMap<String, String>,
    debug: bool,
    shared: bool,
}

impl RawSpan {
    /// Applies the rules Zipkin applies once a span is read.
    fn finish(self, strict: bool) -> Result<ZSpan, String> {
        let trace_id = self.trace_id.ok_or("traceId is required")?;
        let id = self.id.ok_or("id is required")? as u64;
        if strict && trace_id == 0 {
            return Err("traceId is all zeros".into());
        }
        if strict && id == 0 {
            return Err("id is all zeros".into());
        }
        let mut annotations = self.annotations;
        annotations.sort();
        annotations.dedup();
        Ok(ZSpan {
            trace_id,
            id,
            parent_id: self
                .parent_id
                .map(|p| p as u64)
                .filter(|&p| p != 0 && p != id),
            kind: self.kind,
            name: self.name,
            timestamp: self.timestamp,
            duration: self.duration,
            local: self.local,
            remote: self.remote,
            annotations,
            tags: self.tags,
            debug: self.debug,
            shared: self.shared && self.kind != Some(Kind::Client),
        })
    }
}

struct SpanSeed<'p> {
    path: &'p mut Path,
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for SpanSeed<'_> {
    type Value = Option<ZSpan>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<ZSpan>, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for SpanSeed<'_> {
    type Value = Option<ZSpan>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Zipkin v2 span object")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.strict {
            Err(E::custom("span is null"))
        } else {
            Ok(None)
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let strict = self.strict;
        let path = self.path;
        let mut raw = RawSpan::default();
        while let Some(key) = map.next_key_seed(SpanKeySeed)? {
            let id = |max, empty_is_absent| IdSeed {
                max,
                strict,
                empty_is_absent,
            };
            match key {
                SpanKey::TraceId => raw.trace_id = field!(map, path, "traceId", id(32, false)),
                SpanKey::Id => raw.id = field!(map, path, "id", id(16, false)),
                SpanKey::ParentId => raw.parent_id = field!(map, path, "parentId", id(16, !strict)),
                SpanKey::Kind => raw.kind = field!(map, path, "kind", KindSeed { strict }),
                SpanKey::Name => {
                    raw.name = field!(map, path, "name", TextSeed).filter(|n| !n.is_empty())
                }
                SpanKey::Timestamp => raw.timestamp = field!(map, path, "timestamp", MicrosSeed),
                SpanKey::Duration => raw.duration = field!(map, path, "duration", MicrosSeed),
                SpanKey::Debug => raw.debug = field!(map, path, "debug", FlagSeed { strict }),
                SpanKey::Shared => raw.shared = field!(map, path, "shared", FlagSeed { strict }),
                SpanKey::LocalEndpoint => {
                    raw.local = field!(
                        map,
                        path,
                        "localEndpoint",
                        EndpointSeed {
                            path: &mut *path,
                            strict
                        }
                    );
                }
                SpanKey::RemoteEndpoint => {
                    raw.remote = field!(
                        map,
                        path,
                        "remoteEndpoint",
                        EndpointSeed {
                            path: &mut *path,
                            strict
                        }
                    );
                }
                SpanKey::Annotations => {
                    raw.annotations = field!(
                        map,
                        path,
                        "annotations",
                        AnnotationsSeed { path: &mut *path }
                    );
                }
                SpanKey::Tags => {
                    raw.tags = field!(
                        map,
                        path,
                        "tags",
                        TagsSeed {
                            path: &mut *path,
                            strict
                        }
                    )
                }
                SpanKey::BinaryAnnotations => {
                    path.v1 = true;
                    return Err(de::Error::custom("binaryAnnotations is a Zipkin v1 field"));
                }
                SpanKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        raw.finish(strict).map(Some).map_err(de::Error::custom)
    }
}

enum SpanKey {
    TraceId,
    Id,
    ParentId,
    Kind,
    Name,
    Timestamp,
    Duration,
    Debug,
    Shared,
    LocalEndpoint,
    RemoteEndpoint,
    Annotations,
    Tags,
    BinaryAnnotations,
    Other,
}

struct SpanKeySeed;

impl<'de> DeserializeSeed<'de> for SpanKeySeed {
    type Value = SpanKey;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<SpanKey, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for SpanKeySeed {
    type Value = SpanKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<SpanKey, E> {
        Ok(match v {
            "traceId" => SpanKey::TraceId,
            "id" => SpanKey::Id,
            "parentId" => SpanKey::ParentId,
            "kind" => SpanKey::Kind,
            "name" => SpanKey::Name,
            "timestamp" => SpanKey::Timestamp,
            "duration" => SpanKey::Duration,
            "debug" => SpanKey::Debug,
            "shared" => SpanKey::Shared,
            "localEndpoint" => SpanKey::LocalEndpoint,
            "remoteEndpoint" => SpanKey::RemoteEndpoint,
            "annotations" => SpanKey::Annotations,
            "tags" => SpanKey::Tags,
            "binaryAnnotations" => SpanKey::BinaryAnnotations,
            _ => SpanKey::Other,
        })
    }
}

/// A hex id of at most `max` characters, left-padded. `null` is absent.
struct IdSeed {
    max: usize,
    strict: bool,
    empty_is_absent: bool,
}

any_seed!(IdSeed => Option<u128>);

impl Visitor<'_> for IdSeed {
    type Value = Option<u128>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a hex string of 1 to {} characters", self.max)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u128>, E> {
        if v.is_empty() {
            return if self.empty_is_absent {
                Ok(None)
            } else {
                Err(E::custom("should not be empty"))
            };
        }
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        let ok = |b: u8| lower_hex(b) || (!self.strict && (b'A'..=b'F').contains(&b));
        if !v.bytes().all(ok) {
            return Err(E::custom(format!(
                "{} should be lower-hex encoded with no prefix",
                excerpt(v)
            )));
        }
        if v.len() > self.max {
            return Err(E::custom(format!(
                "{} is longer than {} hex characters",
                excerpt(v),
                self.max
            )));
        }
        u128::from_str_radix(v, 16).map(Some).map_err(E::custom)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<u128>, E> {
        Ok(None)
    }
}

/// `kind`: exact upper-case names when strict, any case (and `INTERNAL`,
/// unknown values = absent) otherwise.
struct KindSeed {
    strict: bool,
}

any_seed!(KindSeed => Option<Kind>);

impl Visitor<'_> for KindSeed {
    type Value = Option<Kind>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CLIENT, SERVER, PRODUCER or CONSUMER")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Kind>, E> {
        let exact = match v {
            "CLIENT" => Some(Kind::Client),
            "SERVER" => Some(Kind::Server),
            "PRODUCER" => Some(Kind::Producer),
            "CONSUMER" => Some(Kind::Consumer),
            _ => None,
        };
        if self.strict {
            return exact.map(Some).ok_or_else(|| {
                E::custom(format!(
                    "unsupported kind {} (expected CLIENT, SERVER, PRODUCER or CONSUMER)",
                    excerpt(v)
                ))
            });
        }
        Ok(exact.or_else(|| match v.to_ascii_uppercase().as_str() {
            "CLIENT" => Some(Kind::Client),
            "SERVER" => Some(Kind::Server),
            "PRODUCER" => Some(Kind::Producer),
            "CONSUMER" => Some(Kind::Consumer),
            "INTERNAL" => Some(Kind::Internal),
            _ => None,
        }))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Kind>, E> {
        Ok(None)
    }
}

/// A string; `null` is absent.
struct TextSeed;

any_seed!(TextSeed => Option<String>);

impl Visitor<'_> for TextSeed {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<String>, E> {
        Ok(Some(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
}

/// Microseconds: an integer, an integral float (`1.58432429547687e+15`) or a
/// quoted number. Zero or negative is absent; a fraction is an error.
struct MicrosSeed;

any_seed!(MicrosSeed => Option<u64>);

impl MicrosSeed {
    fn from_f64<E: de::Error>(v: f64) -> Result<Option<u64>, E> {
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(E::custom(format!(
                "{v} is not a whole number of microseconds"
            )));
        }
        if v >= u64::MAX as f64 {
            return Err(E::custom(format!("{v} is out of range")));
        }
        Ok((v > 0.0).then_some(v as u64))
    }
}

impl Visitor<'_> for MicrosSeed {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of microseconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
        Ok((v > 0).then_some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
        Ok(u64::try_from(v).ok().filter(|&v| v > 0))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<u64>, E> {
        Self::from_f64(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u64>, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return self.visit_i64(n);
        }
        if let Ok(n) = t.parse::<u64>() {
            return self.visit_u64(n);
        }
        match t.parse::<f64>() {
            Ok(f) => Self::from_f64(f),
            Err(_) => Err(E::custom(format!("{} is not a number", excerpt(v)))),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
}

/// `debug` / `shared`: a boolean (lenient: also `"true"`/`"false"`).
struct FlagSeed {
    strict: bool,
}

any_seed!(FlagSeed => bool);

impl Visitor<'_> for FlagSeed {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match v {
            "true" if !self.strict => Ok(true),
            "false" if !self.strict => Ok(false),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// An endpoint object; one without usable fields is absent.
struct EndpointSeed<'p> {
    path: &'p mut Path,
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for EndpointSeed<'_> {
    type Value = Option<Endpoint>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<Endpoint>, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EndpointSeed<'_> {
    type Value = Option<Endpoint>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an endpoint object")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let path = self.path;
        let mut endpoint = Endpoint::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "serviceName" => {
                    endpoint.service_name =
                        field!(map, path, "serviceName", TextSeed).filter(|s| !s.is_empty());
                }
                "ipv4" | "ipv6" => {
                    let name = if key == "ipv4" { "ipv4" } else { "ipv6" };
                    if let Some(ip) =
                        field!(map, path, name, TextSeed).and_then(|text| parse_ip(&text))
                    {
                        endpoint.set_ip(ip);
                    }
                }
                "port" => {
                    endpoint.port = field!(
                        map,
                        path,
                        "port",
                        PortSeed {
                            strict: self.strict
                        }
                    )
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((!endpoint.is_empty()).then_some(endpoint))
    }
}

/// A port: 1–65535; zero or negative is absent; larger is an error when
/// strict and dropped otherwise.
struct PortSeed {
    strict: bool,
}

any_seed!(PortSeed => Option<u16>);

impl PortSeed {
    fn port_from<E: de::Error>(self, v: i128) -> Result<Option<u16>, E> {
        if v <= 0 {
            Ok(None)
        } else if let Ok(port) = u16::try_from(v) {
            Ok(Some(port))
        } else if self.strict {
            Err(E::custom(format!("port {v} is out of range")))
        } else {
            Ok(None)
        }
    }
}

impl Visitor<'_> for PortSeed {
    type Value = Option<u16>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u16>, E> {
        self.port_from(i128::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u16>, E> {
        self.port_from(i128::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<u16>, E> {
        if v.is_finite() && v.fract() == 0.0 {
            self.port_from(v as i128)
        } else {
            Err(E::custom(format!("{v} is not a port number")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u16>, E> {
        match v.trim().parse::<i128>() {
            Ok(n) if !self.strict => self.port_from(n),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<u16>, E> {
        Ok(None)
    }
}

struct AnnotationsSeed<'p> {
    path: &'p mut Path,
}

impl<'de> DeserializeSeed<'de> for AnnotationsSeed<'_> {
    type Value = Vec<(u64, String)>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for AnnotationsSeed<'_> {
    type Value = Vec<(u64, String)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of annotations")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut annotations = Vec::new();
        loop {
            self.path.segs.push(Seg::Index(annotations.len()));
            let item = seq.next_element_seed(AnnotationSeed {
                path: &mut *self.path,
            })?;
            self.path.segs.pop();
            match item {
                Some(annotation) => annotations.push(annotation),
                None => return Ok(annotations),
            }
        }
    }
}

struct AnnotationSeed<'p> {
    path: &'p mut Path,
}

impl<'de> DeserializeSeed<'de> for AnnotationSeed<'_> {
    type Value = (u64, String);
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnnotationSeed<'_> {
    type Value = (u64, String);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an annotation object ({\"timestamp\": ..., \"value\": ...})")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let path = self.path;
        let (mut timestamp, mut value) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "timestamp" => timestamp = field!(map, path, "timestamp", MicrosSeed),
                "value" => value = field!(map, path, "value", TextSeed),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (timestamp, value) {
            (Some(timestamp), Some(value)) => Ok((timestamp, value)),
            (None, _) => Err(de::Error::custom(
                "Incomplete annotation: timestamp is missing or not positive",
            )),
            (_, None) => Err(de::Error::custom("Incomplete annotation: value is missing")),
        }
    }
}

struct TagsSeed<'p> {
    path: &'p mut Path,
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for TagsSeed<'_> {
    type Value = BTreeMap<String, String>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_> {
    type Value = BTreeMap<String, String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of string tags")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tags = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            self.path.segs.push(Seg::Tag(key));
            let value = map.next_value_seed(TagValueSeed {
                strict: self.strict,
            })?;
            let Some(Seg::Tag(key)) = self.path.segs.pop() else {
                unreachable!("the tag segment was pushed above")
            };
            if let Some(value) = value {
                tags.insert(key, value);
            }
        }
        Ok(tags)
    }
}

/// A tag value: a string, or a number (stringified); lenient also
/// stringifies booleans and skips `null`.
struct TagValueSeed {
    strict: bool,
}

any_seed!(TagValueSeed => Option<String>);

impl Visitor<'_> for TagValueSeed {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string tag value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<String>, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<String>, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<String>, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<String>, E> {
        Ok(Some(
            serde_json::Number::from_f64(v)
                .map(|n| n.to_string())
                .unwrap_or_else(|| v.to_string()),
        ))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<String>, E> {
        if self.strict {
            Err(E::invalid_type(de::Unexpected::Bool(v), &self))
        } else {
            Ok(Some(v.to_string()))
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        if self.strict {
            Err(E::custom("No value (null) for tag"))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanKind, TracesData};
    use crate::zipkin_v2::test_support::*;
    use crate::zipkin_v2::*;
    use serde_json::json;

    #[test]
    fn empty_body_and_empty_list_are_empty_batches() {
        assert_eq!(decode_json(b"", true).unwrap(), TracesData::default());
        assert_eq!(decode_json(b"[]", true).unwrap(), TracesData::default());
        assert_eq!(
            decode_json(b"\xEF\xBB\xBF \n[ ]", false).unwrap(),
            TracesData::default()
        );
        assert_eq!(decode_json(b"\n\n", false).unwrap(), TracesData::default());
        assert_eq!(decode_proto(b"").unwrap(), TracesData::default());
    }

    #[test]
    fn leading_whitespace_is_rejected_only_when_strict() {
        assert!(decode_json(b" []", false).is_ok());
        assert_eq!(
            decode_json(b" []", true).unwrap_err(),
            ZipkinError::NotAList("")
        );
    }

    #[test]
    fn a_body_that_is_not_a_list_is_rejected() {
        assert_eq!(
            decode_json(b"{}", false).unwrap_err().to_string(),
            "Expected a JSON_V2 encoded list, but received: a JSON object"
        );
        assert_eq!(
            decode_json(b"\x0a\x10", false).unwrap_err().to_string(),
            "Expected a JSON_V2 encoded list, but received: PROTO3"
        );
    }

    #[test]
    fn a_v1_body_is_rejected_with_zipkins_message() {
        let body = json!([{"traceId": "1", "id": "2", "annotations": [], "binaryAnnotations": [{"key": "a", "value": "b"}]}]);
        let err = decode(body).unwrap_err();
        assert_eq!(err, ZipkinError::V1Body);
        assert_eq!(
            err.to_string(),
            "Expected a JSON_V2 encoded list, but received: JSON_V1"
        );
    }

    #[test]
    fn ids_are_left_padded_and_64_bit_trace_ids_have_a_zero_high_half() {
        let span = one(json!({"traceId": "48485a3953bb6124", "id": "1", "parentId": "ab"}));
        assert_eq!(
            hex::encode(&span.trace_id),
            "000000000000000048485a3953bb6124"
        );
        assert_eq!(hex::encode(&span.span_id), "0000000000000001");
        assert_eq!(hex::encode(&span.parent_span_id), "00000000000000ab");
    }

    #[test]
    fn upper_case_hex_is_accepted_unless_strict() {
        let v = json!({"traceId": "463AC35C9F6413AD48485A3953BB6124", "id": "a2fb4a1d1a96d312"});
        assert_eq!(
            hex::encode(&one(v.clone()).trace_id),
            "463ac35c9f6413ad48485a3953bb6124"
        );
        let err = strict_error_of(v);
        assert!(
            err.starts_with(
                "span 0: traceId: \"463AC35C9F6413AD48485A3953BB6124\" should be lower-hex encoded"
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_ids_are_errors_naming_span_and_field() {
        let err = error_of(with(base(), json!({"id": "0xab"})));
        assert!(
            err.starts_with("span 1: id: \"0xab\" should be lower-hex encoded with no prefix"),
            "{err}"
        );
        let err = error_of(with(base(), json!({"traceId": "1".repeat(33)})));
        assert!(
            err.starts_with("span 1: traceId: ") && err.contains("longer than 32"),
            "{err}"
        );
        assert!(error_of(with(base(), json!({"id": 5}))).starts_with("span 1: id: invalid type"));
        // Span 0 ({}) is checked first.
        assert!(decode(json!([{}]))
            .unwrap_err()
            .to_string()
            .starts_with("span 0: traceId is required"));
        assert!(decode(json!([{"traceId": "1"}]))
            .unwrap_err()
            .to_string()
            .starts_with("span 0: id is required"));
    }

    #[test]
    fn all_zero_ids_pass_through_for_validation_unless_strict() {
        let span = one(json!({"traceId": "0000000000000000", "id": "0"}));
        assert!(span.trace_id.iter().all(|&b| b == 0) && span.trace_id.len() == 16);
        assert!(
            strict_error_of(json!({"traceId": "00", "id": "1"})).contains("traceId is all zeros")
        );
        assert!(strict_error_of(json!({"traceId": "1", "id": "0"})).contains("id is all zeros"));
    }

    #[test]
    fn parent_id_all_zeros_or_equal_to_id_means_root() {
        assert!(one(with(base(), json!({"parentId": "0000000000000000"})))
            .parent_span_id
            .is_empty());
        assert!(one(with(base(), json!({"parentId": "a2fb4a1d1a96d312"})))
            .parent_span_id
            .is_empty());
    }

    #[test]
    fn empty_parent_id_is_absent_unless_strict() {
        assert!(one(with(base(), json!({"parentId": ""})))
            .parent_span_id
            .is_empty());
        assert!(strict_error_of(with(base(), json!({"parentId": ""})))
            .contains("span 0: parentId: should not be empty"));
    }

    #[test]
    fn kind_is_case_insensitive_unless_strict() {
        assert_eq!(
            one(with(base(), json!({"kind": "client"}))).span_kind(),
            SpanKind::Client
        );
        assert_eq!(
            one(with(base(), json!({"kind": "INTERNAL"}))).span_kind(),
            SpanKind::Internal
        );
        assert_eq!(
            one(with(base(), json!({"kind": "SIDEWAYS"}))).span_kind(),
            SpanKind::Unspecified
        );
        let err = strict_error_of(with(base(), json!({"kind": "client"})));
        assert!(
            err.starts_with("span 0: kind: unsupported kind \"client\""),
            "{err}"
        );
    }

    #[test]
    fn integral_floats_and_quoted_numbers_are_accepted_as_microseconds() {
        let span = one(with(
            base(),
            json!({"timestamp": 1.58432429547687e15, "duration": "25"}),
        ));
        assert_eq!(span.start_time_unix_nano, 1_584_324_295_476_870_000);
        assert_eq!(span.duration_nanos(), 25_000);
        let err = error_of(with(base(), json!({"duration": 1.5})));
        assert!(
            err.starts_with("span 1: duration: 1.5 is not a whole number of microseconds"),
            "{err}"
        );
    }

    #[test]
    fn port_zero_and_bad_ips_are_ignored_and_mapped_ipv6_is_ipv4() {
        let span = one(with(
            base(),
            json!({"localEndpoint": {"ipv4": "not-an-ip", "ipv6": "::ffff:10.0.0.1", "port": 0}}),
        ));
        assert_eq!(attr(&span, LOCAL_ADDRESS), Some(&text("10.0.0.1")));
        assert!(attr(&span, LOCAL_PORT).is_none());
        let span = one(with(
            base(),
            json!({"localEndpoint": {"ipv4": "nope", "port": 0}}),
        ));
        assert!(span
            .attributes
            .iter()
            .all(|a| !a.key.starts_with("network.")));
    }

    #[test]
    fn port_above_65535_is_dropped_unless_strict() {
        let span = one(with(
            base(),
            json!({"remoteEndpoint": {"serviceName": "x", "port": 70000}}),
        ));
        assert!(attr(&span, PEER_PORT).is_none());
        let err = strict_error_of(with(base(), json!({"remoteEndpoint": {"port": 70000}})));
        assert!(
            err.starts_with("span 0: remoteEndpoint.port: port 70000 is out of range"),
            "{err}"
        );
    }

    #[test]
    fn number_tag_values_are_stringified() {
        let span = one(with(base(), json!({"tags": {"n": 1, "f": 2.5, "neg": -3}})));
        assert_eq!(attr(&span, "n"), Some(&text("1")));
        assert_eq!(attr(&span, "f"), Some(&text("2.5")));
        assert_eq!(attr(&span, "neg"), Some(&text("-3")));
    }

    #[test]
    fn boolean_and_null_tag_values_are_accepted_unless_strict() {
        let span = one(with(base(), json!({"tags": {"b": true, "gone": null}})));
        assert_eq!(attr(&span, "b"), Some(&text("true")));
        assert!(attr(&span, "gone").is_none());
        let err = strict_error_of(with(base(), json!({"tags": {"b": true}})));
        assert!(
            err.starts_with("span 0: tags[\"b\"]: invalid type: boolean"),
            "{err}"
        );
        let err = strict_error_of(with(base(), json!({"tags": {"gone": null}})));
        assert!(err.starts_with("span 0: tags[\"gone\"]: No value"), "{err}");
    }

    #[test]
    fn object_tag_values_are_errors() {
        let err = error_of(with(base(), json!({"tags": {"o": {"x": 1}}})));
        assert!(
            err.starts_with("span 1: tags[\"o\"]: invalid type: map"),
            "{err}"
        );
    }

    #[test]
    fn incomplete_annotations_are_errors() {
        let err = error_of(with(
            base(),
            json!({"annotations": [{"timestamp": 1, "value": "a"}, {"value": "b"}]}),
        ));
        assert!(
            err.starts_with("span 1: annotations[1]: Incomplete annotation: timestamp"),
            "{err}"
        );
        let err = error_of(with(base(), json!({"annotations": [{"timestamp": 1}]})));
        assert!(
            err.contains("Incomplete annotation: value is missing"),
            "{err}"
        );
    }

    #[test]
    fn shared_is_removed_from_client_spans() {
        assert!(!one(with(base(), json!({"kind": "CLIENT", "shared": true}))).shared);
    }

    #[test]
    fn unknown_fields_and_nulls_are_ignored() {
        let span = one(with(
            base(),
            json!({"name": null, "kind": null, "localEndpoint": null, "tags": null, "annotations": null, "future": [1]}),
        ));
        assert!(span.name.is_empty());
    }

    #[test]
    fn malformed_json_is_a_syntax_error_naming_the_span() {
        let err = decode_json(br#"[{"traceId":"1","id":"2"},{"traceId":"1",]"#, false).unwrap_err();
        assert!(
            matches!(&err, ZipkinError::Syntax { location, .. } if location == "span 1"),
            "{err:?}"
        );
    }
}
