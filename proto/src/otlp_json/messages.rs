//! The OTLP/JSON field names of every message of the model.
//!
//! In: a JSON object's fields, camelCase or snake_case (and the legacy
//! `instrumentationLibrary*` names). Out: the model message, each field read
//! with the scalar reader its proto type calls for.

use serde::de::MapAccess;

use super::read::{
    next, Base64, Bool, Enum, Fields, HexId, List, Message, Path, Str, F64, I64, U32, U64,
};
use crate::model::{self, span, AnyValue, Value};

impl Message for model::TracesData {
    const EXPECTING: &'static str = "an OTLP traces object ({\"resourceSpans\": [...]})";
    const FIELDS: Fields = &[("resourceSpans", 0), ("resource_spans", 0)];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        _: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        self.resource_spans
            .extend(next::<List<model::ResourceSpans>, _>(map, path)?.0);
        Ok(())
    }
}

impl Message for model::ResourceSpans {
    const EXPECTING: &'static str = "a ResourceSpans object";
    const FIELDS: Fields = &[
        ("resource", 0),
        ("scopeSpans", 1),
        ("scope_spans", 1),
        ("instrumentationLibrarySpans", 1),
        ("instrumentation_library_spans", 1),
        ("schemaUrl", 2),
        ("schema_url", 2),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.resource = next(map, path)?,
            1 => self
                .scope_spans
                .extend(next::<List<model::ScopeSpans>, _>(map, path)?.0),
            _ => self.schema_url = next::<Str, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::Resource {
    const EXPECTING: &'static str = "a Resource object";
    const FIELDS: Fields = &[
        ("attributes", 0),
        ("droppedAttributesCount", 1),
        ("dropped_attributes_count", 1),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self
                .attributes
                .extend(next::<List<model::KeyValue>, _>(map, path)?.0),
            _ => self.dropped_attributes_count = next::<U32, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::ScopeSpans {
    const EXPECTING: &'static str = "a ScopeSpans object";
    const FIELDS: Fields = &[
        ("scope", 0),
        ("instrumentationLibrary", 0),
        ("instrumentation_library", 0),
        ("spans", 1),
        ("schemaUrl", 2),
        ("schema_url", 2),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.scope = next(map, path)?,
            1 => self
                .spans
                .extend(next::<List<model::Span>, _>(map, path)?.0),
            _ => self.schema_url = next::<Str, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::InstrumentationScope {
    const EXPECTING: &'static str = "an InstrumentationScope object";
    const FIELDS: Fields = &[
        ("name", 0),
        ("version", 1),
        ("attributes", 2),
        ("droppedAttributesCount", 3),
        ("dropped_attributes_count", 3),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.name = next::<Str, _>(map, path)?.0,
            1 => self.version = next::<Str, _>(map, path)?.0,
            2 => self
                .attributes
                .extend(next::<List<model::KeyValue>, _>(map, path)?.0),
            _ => self.dropped_attributes_count = next::<U32, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::Span {
    const EXPECTING: &'static str = "a Span object";
    const FIELDS: Fields = &[
        ("traceId", 0),
        ("trace_id", 0),
        ("spanId", 1),
        ("span_id", 1),
        ("traceState", 2),
        ("trace_state", 2),
        ("parentSpanId", 3),
        ("parent_span_id", 3),
        ("flags", 4),
        ("name", 5),
        ("kind", 6),
        ("startTimeUnixNano", 7),
        ("start_time_unix_nano", 7),
        ("endTimeUnixNano", 8),
        ("end_time_unix_nano", 8),
        ("attributes", 9),
        ("droppedAttributesCount", 10),
        ("dropped_attributes_count", 10),
        ("events", 11),
        ("droppedEventsCount", 12),
        ("dropped_events_count", 12),
        ("links", 13),
        ("droppedLinksCount", 14),
        ("dropped_links_count", 14),
        ("status", 15),
        ("debug", 16),
        ("shared", 17),
        ("jaegerFlags", 18),
        ("jaeger_flags", 18),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.trace_id = next::<HexId, _>(map, path)?.0,
            1 => self.span_id = next::<HexId, _>(map, path)?.0,
            2 => self.trace_state = next::<Str, _>(map, path)?.0,
            3 => self.parent_span_id = next::<HexId, _>(map, path)?.0,
            4 => self.flags = next::<U32, _>(map, path)?.0,
            5 => self.name = next::<Str, _>(map, path)?.0,
            6 => self.kind = next::<Enum<span::SpanKind>, _>(map, path)?.0,
            7 => self.start_time_unix_nano = next::<U64, _>(map, path)?.0,
            8 => self.end_time_unix_nano = next::<U64, _>(map, path)?.0,
            9 => self
                .attributes
                .extend(next::<List<model::KeyValue>, _>(map, path)?.0),
            10 => self.dropped_attributes_count = next::<U32, _>(map, path)?.0,
            11 => self
                .events
                .extend(next::<List<span::Event>, _>(map, path)?.0),
            12 => self.dropped_events_count = next::<U32, _>(map, path)?.0,
            13 => self.links.extend(next::<List<span::Link>, _>(map, path)?.0),
            14 => self.dropped_links_count = next::<U32, _>(map, path)?.0,
            15 => self.status = next(map, path)?,
            16 => self.debug = next::<Bool, _>(map, path)?.0,
            17 => self.shared = next::<Bool, _>(map, path)?.0,
            _ => self.jaeger_flags = next::<U32, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for span::Event {
    const EXPECTING: &'static str = "an Event object";
    const FIELDS: Fields = &[
        ("timeUnixNano", 0),
        ("time_unix_nano", 0),
        ("name", 1),
        ("attributes", 2),
        ("droppedAttributesCount", 3),
        ("dropped_attributes_count", 3),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.time_unix_nano = next::<U64, _>(map, path)?.0,
            1 => self.name = next::<Str, _>(map, path)?.0,
            2 => self
                .attributes
                .extend(next::<List<model::KeyValue>, _>(map, path)?.0),
            _ => self.dropped_attributes_count = next::<U32, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for span::Link {
    const EXPECTING: &'static str = "a Link object";
    const FIELDS: Fields = &[
        ("traceId", 0),
        ("trace_id", 0),
        ("spanId", 1),
        ("span_id", 1),
        ("traceState", 2),
        ("trace_state", 2),
        ("attributes", 3),
        ("droppedAttributesCount", 4),
        ("dropped_attributes_count", 4),
        ("flags", 5),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.trace_id = next::<HexId, _>(map, path)?.0,
            1 => self.span_id = next::<HexId, _>(map, path)?.0,
            2 => self.trace_state = next::<Str, _>(map, path)?.0,
            3 => self
                .attributes
                .extend(next::<List<model::KeyValue>, _>(map, path)?.0),
            4 => self.dropped_attributes_count = next::<U32, _>(map, path)?.0,
            _ => self.flags = next::<U32, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::Status {
    const EXPECTING: &'static str = "a Status object";
    const FIELDS: Fields = &[("message", 0), ("code", 1)];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.message = next::<Str, _>(map, path)?.0,
            _ => self.code = next::<Enum<model::StatusCode>, _>(map, path)?.0,
        }
        Ok(())
    }
}

impl Message for model::KeyValue {
    const EXPECTING: &'static str = "a KeyValue object ({\"key\": ..., \"value\": {...}})";
    const FIELDS: Fields = &[("key", 0), ("value", 1)];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        match f {
            0 => self.key = next::<Str, _>(map, path)?.0,
            _ => self.value = next(map, path)?,
        }
        Ok(())
    }
}

impl Message for AnyValue {
    const EXPECTING: &'static str = "an AnyValue object (e.g. {\"stringValue\": \"x\"})";
    const FIELDS: Fields = &[
        ("stringValue", 0),
        ("string_value", 0),
        ("boolValue", 1),
        ("bool_value", 1),
        ("intValue", 2),
        ("int_value", 2),
        ("doubleValue", 3),
        ("double_value", 3),
        ("arrayValue", 4),
        ("array_value", 4),
        ("kvlistValue", 5),
        ("kvlist_value", 5),
        ("bytesValue", 6),
        ("bytes_value", 6),
    ];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        f: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        self.value = match f {
            0 => Some(Value::StringValue(next::<Str, _>(map, path)?.0)),
            1 => Some(Value::BoolValue(next::<Bool, _>(map, path)?.0)),
            2 => Some(Value::IntValue(next::<I64, _>(map, path)?.0)),
            3 => Some(Value::DoubleValue(next::<F64, _>(map, path)?.0)),
            4 => next::<Option<model::ArrayValue>, _>(map, path)?.map(Value::ArrayValue),
            5 => next::<Option<model::KeyValueList>, _>(map, path)?.map(Value::KvlistValue),
            _ => Some(Value::BytesValue(next::<Base64, _>(map, path)?.0)),
        };
        Ok(())
    }
}

impl Message for model::ArrayValue {
    const EXPECTING: &'static str = "an ArrayValue object ({\"values\": [...]})";
    const FIELDS: Fields = &[("values", 0)];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        _: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        self.values.extend(next::<List<AnyValue>, _>(map, path)?.0);
        Ok(())
    }
}

impl Message for model::KeyValueList {
    const EXPECTING: &'static str = "a KeyValueList object ({\"values\": [...]})";
    const FIELDS: Fields = &[("values", 0)];
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        _: u8,
        map: &mut A,
        path: &mut Path,
    ) -> Result<(), A::Error> {
        self.values
            .extend(next::<List<model::KeyValue>, _>(map, path)?.0);
        Ok(())
    }
}
