//! Tests of the Thrift reader and writer.
//!
//! In: hand-written wire bytes, writer output, hostile inputs. Out: checks
//! that values read back, that the bytes match the protocols' definitions,
//! and that bad input is an error, never a panic.

use super::*;

/// Writes a struct {1: i64, 2: string, 3: bool, 5: list<i32>, 40: double,
/// 41: struct {1: bool false}} and returns the bytes.
fn sample(protocol: Protocol) -> Vec<u8> {
    let mut w = Writer::new(protocol);
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(-2);
    w.field(2, TType::Binary);
    w.binary(b"hi");
    w.field_bool(3, true);
    w.field(5, TType::List);
    w.list_begin(TType::I32, 2);
    w.i32(7);
    w.i32(-300);
    w.field(40, TType::Double);
    w.double(1.5);
    w.field(41, TType::Struct);
    w.struct_begin();
    w.field_bool(1, false);
    w.struct_end();
    w.struct_end();
    w.into_bytes()
}

#[derive(Debug, Default, PartialEq)]
struct Sample {
    a: i64,
    b: String,
    c: bool,
    d: Vec<i32>,
    e: f64,
    inner: Option<bool>,
}

fn read_sample(bytes: &[u8], protocol: Protocol) -> Result<Sample, ThriftError> {
    let mut r = Reader::new(bytes, protocol);
    let mut s = Sample::default();
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => s.a = r.read_i64()?,
            (2, TType::Binary) => s.b = r.read_string()?,
            (3, TType::Bool) => s.c = r.read_bool()?,
            (5, TType::List) => r.read_list(|r, _| {
                s.d.push(r.read_i32()?);
                Ok(())
            })?,
            (40, TType::Double) => s.e = r.read_double()?,
            (41, TType::Struct) => r.read_struct(|r, id, ttype| {
                if (id, ttype) == (1, TType::Bool) {
                    s.inner = Some(r.read_bool()?);
                    Ok(true)
                } else {
                    Ok(false)
                }
            })?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    match r.remaining() {
        0 => Ok(s),
        n => Err(ThriftError::Unexpected(format!("{n} trailing bytes"))),
    }
}

fn expected() -> Sample {
    Sample {
        a: -2,
        b: "hi".into(),
        c: true,
        d: vec![7, -300],
        e: 1.5,
        inner: Some(false),
    }
}

#[test]
fn written_values_read_back_in_both_protocols() {
    for protocol in [Protocol::Binary, Protocol::Compact] {
        assert_eq!(
            read_sample(&sample(protocol), protocol).unwrap(),
            expected()
        );
    }
}

#[test]
fn binary_bytes_follow_the_protocol() {
    let bytes = sample(Protocol::Binary);
    // field 1: type 10 (i64), id 1, value -2 big-endian
    assert_eq!(
        &bytes[..11],
        &[10, 0, 1, 255, 255, 255, 255, 255, 255, 255, 254]
    );
    // field 2: type 11 (string), id 2, length 2, "hi"
    assert_eq!(&bytes[11..20], &[11, 0, 2, 0, 0, 0, 2, b'h', b'i']);
    // field 3: type 2 (bool), id 3, 1
    assert_eq!(&bytes[20..24], &[2, 0, 3, 1]);
    // field 5: type 15 (list), id 5, element type 8 (i32), size 2, 7, -300
    assert_eq!(
        &bytes[24..40],
        &[15, 0, 5, 8, 0, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xfe, 0xd4]
    );
}

#[test]
fn compact_bytes_follow_the_protocol() {
    let bytes = sample(Protocol::Compact);
    // field 1: delta 1, type 6 (i64); zigzag(-2) = 3
    assert_eq!(&bytes[..2], &[0x16, 0x03]);
    // field 2: delta 1, type 8 (binary), varint length 2, "hi"
    assert_eq!(&bytes[2..6], &[0x18, 2, b'h', b'i']);
    // field 3: delta 1, type 1 (bool true)
    assert_eq!(bytes[6], 0x11);
    // field 5: delta 2, type 9 (list); size 2 << 4 | type 5 (i32); zigzag 7 = 14; zigzag -300 = 599
    assert_eq!(&bytes[7..12], &[0x29, 0x25, 14, 0xd7, 0x04]);
    // field 40: delta 35 > 15 → long form: type 7 (double), zigzag(40) = 80; then 1.5 little-endian
    assert_eq!(&bytes[12..14], &[0x07, 80]);
    assert_eq!(&bytes[14..22], &1.5f64.to_le_bytes());
    // field 41: delta 1, type 12 (struct) {field 1: delta 1, bool false (2)}, stop, stop
    assert_eq!(&bytes[22..], &[0x1c, 0x12, 0, 0]);
}

#[test]
fn compact_message_header_reads() {
    let mut w = Writer::new(Protocol::Compact);
    w.message_begin("emitBatch", message_type::ONEWAY, 9);
    let bytes = w.into_bytes();
    assert_eq!(&bytes[..3], &[0x82, 0x81, 9]);
    let header = Reader::new(&bytes, Protocol::Compact)
        .read_message_begin()
        .unwrap();
    assert_eq!(
        header,
        MessageHeader {
            name: "emitBatch".into(),
            message_type: message_type::ONEWAY,
            seq_id: 9
        }
    );
}

#[test]
fn strict_and_non_strict_binary_message_headers_read() {
    let mut w = Writer::new(Protocol::Binary);
    w.message_begin("emitBatch", message_type::ONEWAY, 3);
    let strict = w.into_bytes();
    assert_eq!(&strict[..4], &[0x80, 0x01, 0x00, 0x04]);
    let mut non_strict = vec![0, 0, 0, 9];
    non_strict.extend_from_slice(b"emitBatch");
    non_strict.push(4);
    non_strict.extend_from_slice(&3i32.to_be_bytes());
    for bytes in [strict, non_strict] {
        let header = Reader::new(&bytes, Protocol::Binary)
            .read_message_begin()
            .unwrap();
        assert_eq!(header.name, "emitBatch");
        assert_eq!(header.message_type, message_type::ONEWAY);
        assert_eq!(header.seq_id, 3);
    }
}

#[test]
fn unknown_fields_of_every_type_are_skipped() {
    let mut w = Writer::new(Protocol::Compact);
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(5);
    w.field(7, TType::Map);
    // map<string, i32> of one entry, compact: varint size, key/value types
    w.i32(0); // placeholder replaced below
    w.struct_end();
    let mut bytes = w.into_bytes();
    // Replace the placeholder (one zigzag byte 0) by a map {"k": 1}.
    let at = bytes.len() - 2;
    bytes.splice(at..at + 1, [1u8, 0x85, 1, b'k', 2]);
    let mut r = Reader::new(&bytes, Protocol::Compact);
    let mut seen = Vec::new();
    r.read_struct(|r, id, ttype| {
        seen.push(id);
        if id == 1 {
            assert_eq!(r.read_i64()?, 5);
            Ok(true)
        } else {
            assert_eq!(ttype, TType::Map);
            Ok(false)
        }
    })
    .unwrap();
    assert_eq!(seen, [1, 7]);
    assert_eq!(r.remaining(), 0);
}

#[test]
fn truncated_input_is_an_error_at_every_cut() {
    for protocol in [Protocol::Binary, Protocol::Compact] {
        let bytes = sample(protocol);
        for cut in 0..bytes.len() {
            assert!(read_sample(&bytes[..cut], protocol).is_err(), "cut {cut}");
        }
    }
}

#[test]
fn lengths_larger_than_the_input_are_rejected_before_reading() {
    let bytes = [11u8, 0, 1, 0x7f, 0xff, 0xff, 0xff];
    let error = read_sample(&bytes, Protocol::Binary).unwrap_err();
    assert!(matches!(error, ThriftError::BadLength { .. }), "{error}");
    let negative = [15u8, 0, 5, 8, 0xff, 0xff, 0xff, 0xff];
    let error = read_sample(&negative, Protocol::Binary).unwrap_err();
    assert!(matches!(error, ThriftError::BadLength { .. }), "{error}");
}

#[test]
fn deep_nesting_is_refused() {
    // struct { 1: struct { 1: struct { ... } } } 1000 levels deep, binary.
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        bytes.extend_from_slice(&[12, 0, 1]);
    }
    let mut r = Reader::new(&bytes, Protocol::Binary);
    let error = r.read_struct(|_, _, _| Ok(false)).unwrap_err();
    assert!(matches!(error, ThriftError::TooDeep { .. }), "{error}");
}

#[test]
fn unknown_type_ids_are_errors() {
    let error = read_sample(&[99, 0, 1], Protocol::Binary).unwrap_err();
    assert!(matches!(error, ThriftError::UnknownType { id: 99, .. }));
    let error = read_sample(&[0x1d], Protocol::Compact).unwrap_err();
    assert!(matches!(error, ThriftError::UnknownType { id: 13, .. }));
}

#[test]
fn overlong_varints_are_errors() {
    let bytes = [
        0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    let error = read_sample(&bytes, Protocol::Compact).unwrap_err();
    assert!(matches!(error, ThriftError::BadVarint { .. }), "{error}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let _ = read_sample(&bytes, protocol);
            let mut r = Reader::new(&bytes, protocol);
            let _ = r.read_message_begin();
            let _ = Reader::new(&bytes, protocol).skip(TType::Struct);
        }
    }

    #[test]
    fn i64_round_trips(v in proptest::prelude::any::<i64>(), d in proptest::prelude::any::<f64>()) {
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let mut w = Writer::new(protocol);
            w.i64(v);
            w.double(d);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes, protocol);
            proptest::prop_assert_eq!(r.read_i64().unwrap(), v);
            proptest::prop_assert_eq!(r.read_double().unwrap().to_bits(), d.to_bits());
        }
    }
}
