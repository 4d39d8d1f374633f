//! Field numbers of the messages the columnar encoding takes apart
//! (`opentelemetry.proto.trace.v1.Span` and Spoor's canonical model, which
//! shares them). In: nothing. Out: constants.

pub const SPAN_TRACE_ID: u32 = 1;
pub const SPAN_SPAN_ID: u32 = 2;
pub const SPAN_TRACE_STATE: u32 = 3;
pub const SPAN_PARENT_SPAN_ID: u32 = 4;
pub const SPAN_NAME: u32 = 5;
pub const SPAN_KIND: u32 = 6;
pub const SPAN_START: u32 = 7;
pub const SPAN_END: u32 = 8;
pub const SPAN_ATTRIBUTES: u32 = 9;
pub const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
pub const SPAN_EVENTS: u32 = 11;
pub const SPAN_DROPPED_EVENTS: u32 = 12;
pub const SPAN_LINKS: u32 = 13;
pub const SPAN_DROPPED_LINKS: u32 = 14;
pub const SPAN_STATUS: u32 = 15;
pub const SPAN_FLAGS: u32 = 16;

pub const EVENT_TIME: u32 = 1;
pub const EVENT_NAME: u32 = 2;
pub const EVENT_ATTRIBUTES: u32 = 3;
pub const EVENT_DROPPED_ATTRIBUTES: u32 = 4;

pub const KEY_VALUE_KEY: u32 = 1;
pub const KEY_VALUE_VALUE: u32 = 2;

pub const ANY_VALUE_STRING: u32 = 1;
pub const ANY_VALUE_BOOL: u32 = 2;
pub const ANY_VALUE_INT: u32 = 3;
pub const ANY_VALUE_DOUBLE: u32 = 4;

pub const STATUS_MESSAGE: u32 = 2;
pub const STATUS_CODE: u32 = 3;
