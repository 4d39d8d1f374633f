//! Query-string parsing for the Jaeger HTTP API.
//!
//! In: the raw query string of a request (and path segments such as a trace
//! id). Out: typed values — [`SearchParams`] for `GET /api/traces`, trace ids,
//! flags — or a [`ParamError`] whose text is exactly the message Jaeger
//! answers with (`unable to parse param 'limit': ...`,
//! `malformed 'tags' parameter, cannot unmarshal JSON: ...`, ...).
//!
//! Value semantics follow Go's `r.FormValue`: the first occurrence of a key
//! counts and an empty value means "absent"; repeatable keys (`traceID`,
//! `tag`, `tags`) read every occurrence. Unknown keys are ignored.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoor_proto::ids::TraceId;
use spoor_storage::TraceQuery;

use crate::duration::parse_go_duration;

/// A rejected parameter; `Display` is the message sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{0}' is required")]
    Required(&'static str),
    #[error("unable to parse param '{name}': {detail}")]
    Unparsable { name: &'static str, detail: String },
    #[error("'maxDuration' should be greater than 'minDuration'")]
    MaxBelowMinDuration,
    #[error("malformed 'tag' parameter, expecting key:value, received: {0}")]
    MalformedTag(String),
    #[error("malformed 'tags' parameter, cannot unmarshal JSON: {0}")]
    MalformedTagsJson(String),
    #[error("cannot parse traceID param: {0}")]
    TraceId(String),
}

/// The decoded key/value pairs of a query string, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        QueryParams { pairs }
    }

    /// The value of `name`, like Go's `FormValue`: the first occurrence wins,
    /// and an empty value reads as absent.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value given for `name`, in request order (empty ones included).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `prettyPrint`: any value except empty or `false` asks for indented JSON.
    pub fn pretty_print(&self) -> bool {
        self.first("prettyPrint").is_some_and(|v| v != "false")
    }

    /// `raw`: skip the adjusters. Go's `strconv.ParseBool` spellings.
    pub fn raw(&self) -> Result<bool, ParamError> {
        match self.first("raw") {
            None => Ok(false),
            Some(value) => parse_go_bool(value).ok_or_else(|| ParamError::Unparsable {
                name: "raw",
                detail: format!(
                    "strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(value)
                ),
            }),
        }
    }

    /// `errors` of `/api/dependencies` (a Spoor extension): add each
    /// link's `errorCount`. Go's `strconv.ParseBool` spellings.
    pub fn errors(&self) -> Result<bool, ParamError> {
        match self.first("errors") {
            None => Ok(false),
            Some(value) => parse_go_bool(value).ok_or_else(|| ParamError::Unparsable {
                name: "errors",
                detail: format!(
                    "strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(value)
                ),
            }),
        }
    }

    /// An optional µs-since-epoch integer parameter (`start`, `end`).
    pub fn micros(&self, name: &'static str) -> Result<Option<i64>, ParamError> {
        self.first(name)
            .map(|value| parse_go_int(name, value, 64))
            .transpose()
    }

    /// An optional Go duration parameter (`minDuration`, `maxDuration`), in ns.
    pub fn duration(&self, name: &'static str) -> Result<Option<i64>, ParamError> {
        self.first(name)
            .map(|value| {
                parse_go_duration(value).map_err(|e| ParamError::Unparsable {
                    name,
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    /// Every `traceID` parameter, parsed.
    pub fn trace_ids(&self) -> Result<Vec<TraceId>, ParamError> {
        self.all("traceID").map(parse_trace_id).collect()
    }

    /// The search tags: every `tag=key:value` then every `tags={json}`, merged
    /// into one map (later entries win, so JSON tags override simple ones).
    /// Empty values are skipped (Jaeger rejects them; nothing meaningful is
    /// lost by being lenient).
    pub fn tags(&self) -> Result<BTreeMap<String, String>, ParamError> {
        let mut tags = BTreeMap::new();
        for tag in self.all("tag").filter(|t| !t.is_empty()) {
            let (key, value) = tag
                .split_once(':')
                .ok_or_else(|| ParamError::MalformedTag(tag.to_string()))?;
            tags.insert(key.to_string(), value.to_string());
        }
        for json in self.all("tags").filter(|t| !t.is_empty()) {
            tags.extend(parse_json_tags(json)?);
        }
        Ok(tags)
    }
}

/// A trace id as text: 1–32 hex characters, any case, implicitly left-padded.
pub fn parse_trace_id(text: &str) -> Result<TraceId, ParamError> {
    if text.len() > 32 {
        return Err(ParamError::TraceId(format!(
            "TraceID cannot be longer than 32 hex characters: {text}"
        )));
    }
    TraceId::parse_hex(text).map_err(|_| {
        ParamError::TraceId(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            go_quote(text)
        ))
    })
}

/// Settings that shape a search: defaults and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchDefaults {
    /// Traces returned when `limit` is absent or ≤ 0.
    pub default_limit: usize,
    /// Upper bound on `limit`.
    pub max_limit: usize,
    /// How far back a search without `start` looks.
    pub lookback: Duration,
}

/// A parsed `GET /api/traces` request.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchParams {
    /// `traceID=` given: fetch exactly these traces, ignore the filters.
    ByIds { trace_ids: Vec<TraceId>, raw: bool },
    /// A search.
    Find { query: TraceQuery, raw: bool },
}

impl SearchParams {
    /// Reads and validates every search parameter. All parameters are parsed
    /// (a malformed one is a 400 in either mode); the search-only rules
    /// (`service` required, duration order) apply only without `traceID`.
    pub fn parse(
        params: &QueryParams,
        defaults: SearchDefaults,
        now: SystemTime,
    ) -> Result<Self, ParamError> {
        let trace_ids = params.trace_ids()?;
        let raw = params.raw()?;
        let start = params.micros("start")?;
        let end = params.micros("end")?;
        let min_duration = params.duration("minDuration")?;
        let max_duration = params.duration("maxDuration")?;
        let limit = params
            .first("limit")
            .map(|v| parse_go_int("limit", v, 32))
            .transpose()?;
        let tags = params.tags()?;

        if !trace_ids.is_empty() {
            return Ok(SearchParams::ByIds { trace_ids, raw });
        }

        let service = params
            .first("service")
            .ok_or(ParamError::Required("service"))?;
        let min_duration = min_duration.unwrap_or(0);
        let max_duration = max_duration.unwrap_or(0);
        if min_duration != 0 && max_duration != 0 && max_duration < min_duration {
            return Err(ParamError::MaxBelowMinDuration);
        }

        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let now_ns = u64::try_from(now_ns).unwrap_or(u64::MAX);
        let lookback_ns = u64::try_from(defaults.lookback.as_nanos()).unwrap_or(u64::MAX);
        let start_min_ns = match start {
            None => Some(now_ns.saturating_sub(lookback_ns)),
            Some(micros) => micros_to_bound(micros),
        };
        let start_max_ns = match end {
            None => Some(now_ns),
            Some(micros) => micros_to_bound(micros),
        };

        let limit = match limit {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => defaults.default_limit,
        };

        let query = TraceQuery {
            service: Some(service.to_string()),
            operation: params.first("operation").map(str::to_string),
            tags: tags.into_iter().collect(),
            start_min_ns,
            start_max_ns,
            // A minimum ≤ 0 constrains nothing.
            duration_min_ns: u64::try_from(min_duration).ok().filter(|d| *d > 0),
            // A negative maximum admits only zero-length spans (nothing in Jaeger).
            duration_max_ns: (max_duration != 0).then(|| u64::try_from(max_duration).unwrap_or(0)),
            limit: limit.min(defaults.max_limit.max(1)),
        };
        Ok(SearchParams::Find { query, raw })
    }
}

/// A µs timestamp as an ns bound; zero and negative values mean unbounded.
fn micros_to_bound(micros: i64) -> Option<u64> {
    u64::try_from(micros)
        .ok()
        .filter(|m| *m > 0)
        .map(|m| m.saturating_mul(1_000))
}

/// Go's `strconv.ParseInt(value, 10, bits)` with Jaeger's error wrapping.
pub(crate) fn parse_go_int(name: &'static str, value: &str, bits: u32) -> Result<i64, ParamError> {
    let fail = |why: &str| ParamError::Unparsable {
        name,
        detail: format!("strconv.ParseInt: parsing {}: {why}", go_quote(value)),
    };
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("invalid syntax"));
    }
    let parsed: i64 = value.parse().map_err(|_| fail("value out of range"))?;
    if bits < 64 {
        let bound = 1i64 << (bits - 1);
        if parsed >= bound || parsed < -bound {
            return Err(fail("value out of range"));
        }
    }
    Ok(parsed)
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.Quote` for the values quoted in error messages.
fn go_quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

/// One `tags=` value: a JSON object of string → string. `null` is an empty
/// set and a `null` member an empty string (Go's decoder does the same).
pub(crate) fn parse_json_tags(json: &str) -> Result<BTreeMap<String, String>, ParamError> {
    use serde_json::Value;
    let malformed = |detail: String| ParamError::MalformedTagsJson(detail);
    let go_kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let value: Value = serde_json::from_str(json).map_err(|e| malformed(e.to_string()))?;
    let object = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(object) => object,
        other => {
            return Err(malformed(format!(
                "json: cannot unmarshal {} into Go value of type map[string]string",
                go_kind(&other)
            )))
        }
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            Value::Null => Ok((key, String::new())),
            other => Err(malformed(format!(
                "json: cannot unmarshal {} into Go value of type string",
                go_kind(&other)
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: SearchDefaults = SearchDefaults {
        default_limit: 100,
        max_limit: 1500,
        lookback: Duration::from_secs(48 * 3600),
    };

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_718_000_000)
    }

    fn q(text: &str) -> QueryParams {
        QueryParams::parse(Some(text))
    }

    fn search(text: &str) -> Result<SearchParams, ParamError> {
        SearchParams::parse(&q(text), DEFAULTS, now())
    }

    fn find(text: &str) -> TraceQuery {
        match search(text).unwrap() {
            SearchParams::Find { query, .. } => query,
            other => panic!("expected a search, got {other:?}"),
        }
    }

    fn message(result: Result<SearchParams, ParamError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn first_value_wins_and_empty_reads_as_absent() {
        let p = q("a=1&a=2&b=&c=x+y%20z");
        assert_eq!(p.first("a"), Some("1"));
        assert_eq!(p.first("b"), None);
        assert_eq!(p.first("c"), Some("x y z"));
        assert_eq!(p.all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(QueryParams::parse(None).first("a"), None);
    }

    #[test]
    fn pretty_print_is_on_for_any_value_but_empty_or_false() {
        assert!(q("prettyPrint=true").pretty_print());
        assert!(q("prettyPrint=1").pretty_print());
        assert!(!q("prettyPrint=false").pretty_print());
        assert!(!q("prettyPrint=").pretty_print());
        assert!(!q("").pretty_print());
    }

    #[test]
    fn raw_accepts_go_bool_spellings_only() {
        assert_eq!(q("raw=true").raw(), Ok(true));
        assert_eq!(q("raw=1").raw(), Ok(true));
        assert_eq!(q("raw=F").raw(), Ok(false));
        assert_eq!(q("").raw(), Ok(false));
        assert_eq!(
            q("raw=yes").raw().unwrap_err().to_string(),
            "unable to parse param 'raw': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn search_without_service_is_rejected() {
        assert_eq!(
            message(search("operation=x")),
            "parameter 'service' is required"
        );
        assert_eq!(
            message(search("service=")),
            "parameter 'service' is required"
        );
    }

    #[test]
    fn search_defaults_to_the_last_48_hours_and_100_traces() {
        let query = find("service=frontend&lookback=1h&unknown=ignored");
        let now_ns = 1_718_000_000u64 * 1_000_000_000;
        assert_eq!(query.service.as_deref(), Some("frontend"));
        assert_eq!(query.operation, None);
        assert_eq!(query.start_max_ns, Some(now_ns));
        assert_eq!(query.start_min_ns, Some(now_ns - 48 * 3600 * 1_000_000_000));
        assert_eq!(query.limit, 100);
        assert!(query.tags.is_empty());
        assert_eq!((query.duration_min_ns, query.duration_max_ns), (None, None));
    }

    #[test]
    fn start_and_end_are_microseconds() {
        let query = find("service=s&start=1718000000000000&end=1718003600000000");
        assert_eq!(query.start_min_ns, Some(1_718_000_000_000_000_000));
        assert_eq!(query.start_max_ns, Some(1_718_003_600_000_000_000));
    }

    #[test]
    fn zero_or_negative_start_is_unbounded() {
        assert_eq!(find("service=s&start=0").start_min_ns, None);
        assert_eq!(find("service=s&start=-5").start_min_ns, None);
    }

    #[test]
    fn malformed_timestamps_name_the_parameter() {
        assert_eq!(
            message(search("service=s&start=abc")),
            "unable to parse param 'start': strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            message(search("service=s&end=1.5")),
            "unable to parse param 'end': strconv.ParseInt: parsing \"1.5\": invalid syntax"
        );
        assert_eq!(
            message(search("service=s&end=99999999999999999999")),
            "unable to parse param 'end': strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
        );
    }

    #[test]
    fn durations_are_go_duration_strings() {
        let query = find("service=s&minDuration=1.5ms&maxDuration=1m30s");
        assert_eq!(query.duration_min_ns, Some(1_500_000));
        assert_eq!(query.duration_max_ns, Some(90_000_000_000));
        // Kiali appends `us`; bare 0 is fine.
        assert_eq!(find("service=s&minDuration=0").duration_min_ns, None);
        assert_eq!(
            find("service=s&minDuration=250us").duration_min_ns,
            Some(250_000)
        );
        assert_eq!(
            message(search("service=s&minDuration=100")),
            "unable to parse param 'minDuration': time: missing unit in duration \"100\""
        );
        assert_eq!(
            message(search("service=s&maxDuration=fast")),
            "unable to parse param 'maxDuration': time: invalid duration \"fast\""
        );
    }

    #[test]
    fn max_duration_below_min_duration_is_rejected() {
        assert_eq!(
            message(search("service=s&minDuration=2s&maxDuration=1s")),
            "'maxDuration' should be greater than 'minDuration'"
        );
        // Equal bounds are fine.
        assert_eq!(
            find("service=s&minDuration=1s&maxDuration=1s").duration_max_ns,
            Some(1_000_000_000)
        );
    }

    #[test]
    fn limit_zero_or_negative_means_default_and_is_capped_at_the_maximum() {
        assert_eq!(find("service=s&limit=0").limit, 100);
        assert_eq!(find("service=s&limit=-3").limit, 100);
        assert_eq!(find("service=s&limit=20").limit, 20);
        assert_eq!(find("service=s&limit=10000").limit, 1500);
        assert_eq!(
            message(search("service=s&limit=ten")),
            "unable to parse param 'limit': strconv.ParseInt: parsing \"ten\": invalid syntax"
        );
        assert_eq!(
            message(search("service=s&limit=3000000000")),
            "unable to parse param 'limit': strconv.ParseInt: parsing \"3000000000\": value out of range"
        );
    }

    #[test]
    fn tag_params_split_at_the_first_colon() {
        let query = find("service=s&tag=http.url:http://x:8080/a&tag=error:true");
        assert_eq!(
            query.tags,
            vec![
                ("error".to_string(), "true".to_string()),
                ("http.url".to_string(), "http://x:8080/a".to_string())
            ]
        );
        assert_eq!(
            message(search("service=s&tag=novalue")),
            "malformed 'tag' parameter, expecting key:value, received: novalue"
        );
    }

    #[test]
    fn json_tags_repeat_merge_and_override_simple_tags() {
        let query = find(
            "service=s&tag=a:simple&tags=%7B%22a%22%3A%22json%22%7D&tags=%7B%22b%22%3A%22500%22%2C%22c%22%3Anull%7D",
        );
        assert_eq!(
            query.tags,
            vec![
                ("a".to_string(), "json".to_string()),
                ("b".to_string(), "500".to_string()),
                ("c".to_string(), String::new())
            ]
        );
        assert!(find("service=s&tags=null").tags.is_empty());
        assert!(find("service=s&tags=&tag=").tags.is_empty());
    }

    #[test]
    fn json_tags_with_non_string_values_are_rejected() {
        assert_eq!(
            message(search(r#"service=s&tags={"error":true}"#)),
            "malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal bool into Go value of type string"
        );
        assert_eq!(
            message(search(r#"service=s&tags=["a"]"#)),
            "malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal array into Go value of type map[string]string"
        );
        assert!(message(search("service=s&tags=error=true"))
            .starts_with("malformed 'tags' parameter, cannot unmarshal JSON: "));
    }

    #[test]
    fn trace_ids_switch_to_multi_get_and_skip_search_rules() {
        let parsed = search("traceID=1&traceID=ABCDEF0123456789abcdef0123456789&raw=true").unwrap();
        assert_eq!(
            parsed,
            SearchParams::ByIds {
                trace_ids: vec![TraceId(1), TraceId(0xabcdef0123456789abcdef0123456789)],
                raw: true
            }
        );
        // Other parameters are still parsed.
        assert!(search("traceID=1&limit=x").is_err());
    }

    #[test]
    fn malformed_trace_ids_are_rejected() {
        assert_eq!(
            message(search("traceID=xyz")),
            "cannot parse traceID param: strconv.ParseUint: parsing \"xyz\": invalid syntax"
        );
        assert_eq!(
            message(search(&format!("traceID={}", "1".repeat(33)))),
            format!(
                "cannot parse traceID param: TraceID cannot be longer than 32 hex characters: {}",
                "1".repeat(33)
            )
        );
    }

    #[test]
    fn short_padded_and_upper_case_trace_ids_are_the_same_id() {
        let a = parse_trace_id("a1").unwrap();
        assert_eq!(parse_trace_id("00000000000000A1").unwrap(), a);
        assert_eq!(
            parse_trace_id("000000000000000000000000000000a1").unwrap(),
            a
        );
    }
}
