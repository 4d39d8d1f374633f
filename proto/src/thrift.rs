//! A small, strict reader (and a writer, for tests and load generation) of
//! the Apache Thrift binary and compact protocols.
//!
//! In: bytes that claim to be a Thrift message or struct, from the network.
//! Out: the values, read field by field through [`Reader`], or a
//! [`ThriftError`] saying what is wrong and at which byte. [`Writer`] goes
//! the other way.
//!
//! The reader never panics and never allocates more than the input could
//! hold: every length and element count is checked against the bytes that
//! remain before anything is read or reserved, and structs, lists, sets and
//! maps nest at most [`MAX_DEPTH`] deep. Unknown fields are skipped, as
//! Thrift readers do.
//!
//! Wire facts (Thrift's `TBinaryProtocol` and `TCompactProtocol`):
//! binary writes big-endian fixed-width integers, a field header of type
//! byte + i16 id, strings as i32 length + bytes, list headers as element
//! type + i32 size, and a strict message header `0x8001_00TT`, name, seq id
//! (the non-strict form is name, type byte, seq id). Compact writes zigzag
//! varints, field headers as one byte (id delta << 4 | type, delta 0 meaning
//! a zigzag i16 id follows), booleans of fields inside the header type (1
//! true, 2 false), doubles little-endian, list headers as one byte (size <<
//! 4 | type, size 15 meaning a varint size follows), and a message header
//! `0x82`, (type << 5 | version 1), varint seq id, name.

use std::fmt;

/// How deep structs and containers may nest.
pub const MAX_DEPTH: usize = 64;

/// The two wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `TBinaryProtocol`.
    Binary,
    /// `TCompactProtocol`.
    Compact,
}

/// Thrift value types, with the binary protocol's type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TType {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    /// `string` and `binary`.
    Binary,
    Struct,
    Map,
    Set,
    List,
}

impl TType {
    fn from_binary(id: u8) -> Option<TType> {
        Some(match id {
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            _ => return None,
        })
    }

    fn binary_id(self) -> u8 {
        match self {
            TType::Bool => 2,
            TType::Byte => 3,
            TType::Double => 4,
            TType::I16 => 6,
            TType::I32 => 8,
            TType::I64 => 10,
            TType::Binary => 11,
            TType::Struct => 12,
            TType::Map => 13,
            TType::Set => 14,
            TType::List => 15,
        }
    }

    /// Compact type ids; booleans are 1 (true) or 2 (false).
    fn from_compact(id: u8) -> Option<TType> {
        Some(match id {
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            _ => return None,
        })
    }

    fn compact_id(self) -> u8 {
        match self {
            TType::Bool => 1,
            TType::Byte => 3,
            TType::I16 => 4,
            TType::I32 => 5,
            TType::I64 => 6,
            TType::Double => 7,
            TType::Binary => 8,
            TType::List => 9,
            TType::Set => 10,
            TType::Map => 11,
            TType::Struct => 12,
        }
    }
}

/// Message types of a Thrift message header.
pub mod message_type {
    /// A call that expects a reply.
    pub const CALL: u8 = 1;
    /// A reply.
    pub const REPLY: u8 = 2;
    /// An exception reply.
    pub const EXCEPTION: u8 = 3;
    /// A call without a reply (`Agent.emitBatch`).
    pub const ONEWAY: u8 = 4;
}

/// The header of a Thrift message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// The method name, e.g. `emitBatch`.
    pub name: String,
    /// One of [`message_type`].
    pub message_type: u8,
    /// The sequence id.
    pub seq_id: i32,
}

/// Why bytes could not be read as Thrift.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThriftError {
    /// The input ended inside a value.
    #[error("input ends at byte {at}, inside a value that needs {needed} more bytes")]
    Truncated { at: usize, needed: usize },
    /// A length or element count is negative or larger than the input.
    #[error("length {length} at byte {at} is negative or exceeds the {remaining} bytes left")]
    BadLength {
        at: usize,
        length: i64,
        remaining: usize,
    },
    /// A type id that the protocol does not define.
    #[error("unknown type id {id} at byte {at}")]
    UnknownType { at: usize, id: u8 },
    /// Containers or structs nest deeper than [`MAX_DEPTH`].
    #[error("values nest deeper than {MAX_DEPTH} levels at byte {at}")]
    TooDeep { at: usize },
    /// A varint runs over 10 bytes or overflows its type.
    #[error("malformed varint at byte {at}")]
    BadVarint { at: usize },
    /// A message header that is neither strict binary, non-strict binary nor compact.
    #[error("bad message header at byte {at}: {what}")]
    BadHeader { at: usize, what: String },
    /// A value the caller expected is missing or of the wrong type.
    #[error("{0}")]
    Unexpected(String),
}

/// Reads Thrift values from a byte slice; see the module documentation.
pub struct Reader<'a> {
    input: &'a [u8],
    position: usize,
    protocol: Protocol,
    depth: usize,
    /// Compact: the id of the last field read, per open struct.
    last_field_ids: Vec<i16>,
    /// Compact: the value of a boolean field, carried in its header.
    pending_bool: Option<bool>,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.position)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8], protocol: Protocol) -> Reader<'a> {
        Reader {
            input,
            position: 0,
            protocol,
            depth: 0,
            last_field_ids: Vec::new(),
            pending_bool: None,
        }
    }

    /// The byte offset of the next value.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ThriftError> {
        if n > self.remaining() {
            return Err(ThriftError::Truncated {
                at: self.position,
                needed: n - self.remaining(),
            });
        }
        let bytes = &self.input[self.position..self.position + n];
        self.position += n;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, ThriftError> {
        let at = self.position;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(ThriftError::BadVarint { at });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ThriftError::BadVarint { at })
    }

    fn zigzag(&mut self) -> Result<i64, ThriftError> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn enter(&mut self) -> Result<(), ThriftError> {
        if self.depth >= MAX_DEPTH {
            return Err(ThriftError::TooDeep { at: self.position });
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Checks a length or count against the bytes left: every encoded
    /// element takes at least one byte in both protocols, so a count larger
    /// than the input is a lie and nothing is reserved for it.
    fn checked_length(&self, length: i64, at: usize) -> Result<usize, ThriftError> {
        match usize::try_from(length) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(ThriftError::BadLength {
                at,
                length,
                remaining: self.remaining(),
            }),
        }
    }

    /// Reads a message header (either form of the binary protocol, or compact).
    pub fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        let at = self.position;
        match self.protocol {
            Protocol::Binary => {
                let first = i32::from_be_bytes(self.take_array()?);
                if first < 0 {
                    let version = (first as u32) & 0xffff_0000;
                    if version != 0x8001_0000 {
                        return Err(ThriftError::BadHeader {
                            at,
                            what: format!("unknown version {version:#x}"),
                        });
                    }
                    let message_type = (first & 0xff) as u8;
                    let name = self.read_string()?;
                    let seq_id = self.read_i32()?;
                    Ok(MessageHeader {
                        name,
                        message_type,
                        seq_id,
                    })
                } else {
                    let length = self.checked_length(i64::from(first), at)?;
                    let name = String::from_utf8_lossy(self.take(length)?).into_owned();
                    let message_type = self.byte()?;
                    let seq_id = self.read_i32()?;
                    Ok(MessageHeader {
                        name,
                        message_type,
                        seq_id,
                    })
                }
            }
            Protocol::Compact => {
                let protocol_id = self.byte()?;
                if protocol_id != 0x82 {
                    return Err(ThriftError::BadHeader {
                        at,
                        what: format!("protocol id {protocol_id:#x}, expected 0x82"),
                    });
                }
                let version_and_type = self.byte()?;
                if version_and_type & 0x1f != 1 {
                    return Err(ThriftError::BadHeader {
                        at,
                        what: format!("compact version {}", version_and_type & 0x1f),
                    });
                }
                let message_type = version_and_type >> 5;
                let seq_id = self.varint()? as i32;
                let name = self.read_string()?;
                Ok(MessageHeader {
                    name,
                    message_type,
                    seq_id,
                })
            }
        }
    }

    /// Reads the fields of a struct until its stop byte, calling `field` with
    /// each field's id and type. `field` reads the value and returns true, or
    /// returns false to have it skipped.
    pub fn read_struct(
        &mut self,
        mut field: impl FnMut(&mut Self, i16, TType) -> Result<bool, ThriftError>,
    ) -> Result<(), ThriftError> {
        self.enter()?;
        self.last_field_ids.push(0);
        let result = loop {
            match self.read_field_begin() {
                Ok(None) => break Ok(()),
                Ok(Some((id, ttype))) => match field(self, id, ttype) {
                    Ok(true) => {}
                    Ok(false) => {
                        if let Err(e) = self.skip(ttype) {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e),
                },
                Err(e) => break Err(e),
            }
            self.pending_bool = None;
        };
        self.pending_bool = None;
        self.last_field_ids.pop();
        self.leave();
        result
    }

    fn read_field_begin(&mut self) -> Result<Option<(i16, TType)>, ThriftError> {
        let at = self.position;
        let header = self.byte()?;
        if header == 0 {
            return Ok(None);
        }
        match self.protocol {
            Protocol::Binary => {
                let ttype = TType::from_binary(header)
                    .ok_or(ThriftError::UnknownType { at, id: header })?;
                let id = self.read_i16()?;
                Ok(Some((id, ttype)))
            }
            Protocol::Compact => {
                let type_id = header & 0x0f;
                let ttype = TType::from_compact(type_id)
                    .ok_or(ThriftError::UnknownType { at, id: type_id })?;
                let delta = header >> 4;
                let last = self.last_field_ids.last().copied().unwrap_or(0);
                let id = if delta == 0 {
                    self.zigzag()? as i16
                } else {
                    last.wrapping_add(i16::from(delta))
                };
                if let Some(slot) = self.last_field_ids.last_mut() {
                    *slot = id;
                }
                if ttype == TType::Bool {
                    self.pending_bool = Some(type_id == 1);
                }
                Ok(Some((id, ttype)))
            }
        }
    }

    /// Reads a bool (for a compact field, the value its header carried).
    pub fn read_bool(&mut self) -> Result<bool, ThriftError> {
        if let Some(value) = self.pending_bool.take() {
            return Ok(value);
        }
        let byte = self.byte()?;
        Ok(match self.protocol {
            Protocol::Binary => byte != 0,
            Protocol::Compact => byte == 1,
        })
    }

    /// Reads a byte.
    pub fn read_byte(&mut self) -> Result<i8, ThriftError> {
        Ok(self.byte()? as i8)
    }

    /// Reads an i16.
    pub fn read_i16(&mut self) -> Result<i16, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i16::from_be_bytes(self.take_array()?)),
            Protocol::Compact => Ok(self.zigzag()? as i16),
        }
    }

    /// Reads an i32.
    pub fn read_i32(&mut self) -> Result<i32, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i32::from_be_bytes(self.take_array()?)),
            Protocol::Compact => Ok(self.zigzag()? as i32),
        }
    }

    /// Reads an i64.
    pub fn read_i64(&mut self) -> Result<i64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i64::from_be_bytes(self.take_array()?)),
            Protocol::Compact => self.zigzag(),
        }
    }

    /// Reads a double.
    pub fn read_double(&mut self) -> Result<f64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(f64::from_be_bytes(self.take_array()?)),
            Protocol::Compact => Ok(f64::from_le_bytes(self.take_array()?)),
        }
    }

    /// Reads a `binary` value.
    pub fn read_binary(&mut self) -> Result<&'a [u8], ThriftError> {
        let at = self.position;
        let length = match self.protocol {
            Protocol::Binary => i64::from(self.read_i32()?),
            Protocol::Compact => i64::try_from(self.varint()?).unwrap_or(i64::MAX),
        };
        let length = self.checked_length(length, at)?;
        self.take(length)
    }

    /// Reads a `string` (invalid UTF-8 is replaced with U+FFFD).
    pub fn read_string(&mut self) -> Result<String, ThriftError> {
        Ok(String::from_utf8_lossy(self.read_binary()?).into_owned())
    }

    /// Reads a list or set header: the element type and count.
    pub fn read_list_begin(&mut self) -> Result<(TType, usize), ThriftError> {
        let at = self.position;
        let (ttype, size) = match self.protocol {
            Protocol::Binary => {
                let id = self.byte()?;
                let ttype = TType::from_binary(id).ok_or(ThriftError::UnknownType { at, id })?;
                (ttype, i64::from(self.read_i32()?))
            }
            Protocol::Compact => {
                let header = self.byte()?;
                let id = header & 0x0f;
                let ttype = TType::from_compact(id).ok_or(ThriftError::UnknownType { at, id })?;
                let size = match header >> 4 {
                    15 => i64::try_from(self.varint()?).unwrap_or(i64::MAX),
                    small => i64::from(small),
                };
                (ttype, size)
            }
        };
        Ok((ttype, self.checked_length(size, at)?))
    }

    /// Reads the elements of a list (or set), calling `element` for each.
    pub fn read_list(
        &mut self,
        mut element: impl FnMut(&mut Self, TType) -> Result<(), ThriftError>,
    ) -> Result<(), ThriftError> {
        let (ttype, size) = self.read_list_begin()?;
        self.enter()?;
        let mut result = Ok(());
        for _ in 0..size {
            result = element(self, ttype);
            if result.is_err() {
                break;
            }
        }
        self.leave();
        result
    }

    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError> {
        let at = self.position;
        match self.protocol {
            Protocol::Binary => {
                let k = self.byte()?;
                let key = TType::from_binary(k).ok_or(ThriftError::UnknownType { at, id: k })?;
                let v = self.byte()?;
                let value = TType::from_binary(v).ok_or(ThriftError::UnknownType { at, id: v })?;
                let size = i64::from(self.read_i32()?);
                let size = self.checked_length(size, at)?;
                Ok((key, value, size))
            }
            Protocol::Compact => {
                let size = i64::try_from(self.varint()?).unwrap_or(i64::MAX);
                let size = self.checked_length(size, at)?;
                if size == 0 {
                    return Ok((TType::Byte, TType::Byte, 0));
                }
                let types = self.byte()?;
                let key = TType::from_compact(types >> 4)
                    .ok_or(ThriftError::UnknownType { at, id: types >> 4 })?;
                let value = TType::from_compact(types & 0x0f).ok_or(ThriftError::UnknownType {
                    at,
                    id: types & 0x0f,
                })?;
                Ok((key, value, size))
            }
        }
    }

    /// Reads and discards a value of type `ttype`.
    pub fn skip(&mut self, ttype: TType) -> Result<(), ThriftError> {
        match ttype {
            TType::Bool => self.read_bool().map(drop),
            TType::Byte => self.read_byte().map(drop),
            TType::Double => self.read_double().map(drop),
            TType::I16 => self.read_i16().map(drop),
            TType::I32 => self.read_i32().map(drop),
            TType::I64 => self.read_i64().map(drop),
            TType::Binary => self.read_binary().map(drop),
            TType::Struct => self.read_struct(|_, _, _| Ok(false)),
            TType::List | TType::Set => self.read_list(|r, t| r.skip(t)),
            TType::Map => {
                let (key, value, size) = self.read_map_begin()?;
                self.enter()?;
                let mut result = Ok(());
                for _ in 0..size {
                    result = self.skip(key).and_then(|()| self.skip(value));
                    if result.is_err() {
                        break;
                    }
                }
                self.leave();
                result
            }
        }
    }
}

/// Writes Thrift values; the counterpart of [`Reader`] for the types Spoor
/// needs (used by tests and the load generator, not by receivers).
#[derive(Debug)]
pub struct Writer {
    out: Vec<u8>,
    protocol: Protocol,
    last_field_ids: Vec<i16>,
}

impl Writer {
    /// An empty writer.
    pub fn new(protocol: Protocol) -> Writer {
        Writer {
            out: Vec::new(),
            protocol,
            last_field_ids: vec![0],
        }
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A message header (strict form for binary).
    pub fn message_begin(&mut self, name: &str, message_type: u8, seq_id: i32) {
        match self.protocol {
            Protocol::Binary => {
                self.out
                    .extend_from_slice(&(0x8001_0000u32 | u32::from(message_type)).to_be_bytes());
                self.binary(name.as_bytes());
                self.i32(seq_id);
            }
            Protocol::Compact => {
                self.out.push(0x82);
                self.out.push((message_type << 5) | 1);
                self.varint(u64::from(seq_id as u32));
                self.binary(name.as_bytes());
            }
        }
    }

    fn field_header(&mut self, id: i16, ttype: TType, compact_type: u8) {
        match self.protocol {
            Protocol::Binary => {
                self.out.push(ttype.binary_id());
                self.out.extend_from_slice(&id.to_be_bytes());
            }
            Protocol::Compact => {
                let last = self.last_field_ids.last().copied().unwrap_or(0);
                let delta = i32::from(id) - i32::from(last);
                if (1..=15).contains(&delta) {
                    self.out.push(((delta as u8) << 4) | compact_type);
                } else {
                    self.out.push(compact_type);
                    self.zigzag(i64::from(id));
                }
                if let Some(slot) = self.last_field_ids.last_mut() {
                    *slot = id;
                }
            }
        }
    }

    /// Begins a field of type `ttype` (not bool: use [`Writer::field_bool`]).
    pub fn field(&mut self, id: i16, ttype: TType) {
        self.field_header(id, ttype, ttype.compact_id());
    }

    /// A bool field.
    pub fn field_bool(&mut self, id: i16, value: bool) {
        match self.protocol {
            Protocol::Binary => {
                self.field_header(id, TType::Bool, 0);
                self.out.push(u8::from(value));
            }
            Protocol::Compact => self.field_header(id, TType::Bool, if value { 1 } else { 2 }),
        }
    }

    /// Opens a struct value (after its field header or list header).
    pub fn struct_begin(&mut self) {
        self.last_field_ids.push(0);
    }

    /// Writes the stop byte and closes the struct.
    pub fn struct_end(&mut self) {
        self.out.push(0);
        self.last_field_ids.pop();
    }

    /// A list (or set) header.
    pub fn list_begin(&mut self, element: TType, size: usize) {
        match self.protocol {
            Protocol::Binary => {
                self.out.push(element.binary_id());
                self.i32(size as i32);
            }
            Protocol::Compact => {
                if size < 15 {
                    self.out.push(((size as u8) << 4) | element.compact_id());
                } else {
                    self.out.push(0xf0 | element.compact_id());
                    self.varint(size as u64);
                }
            }
        }
    }

    /// A bool outside a field (a list element).
    pub fn bool(&mut self, value: bool) {
        match self.protocol {
            Protocol::Binary => self.out.push(u8::from(value)),
            Protocol::Compact => self.out.push(if value { 1 } else { 2 }),
        }
    }

    /// An i16 value.
    pub fn i16(&mut self, v: i16) {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(v)),
        }
    }

    /// An i32 value.
    pub fn i32(&mut self, v: i32) {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(v)),
        }
    }

    /// An i64 value.
    pub fn i64(&mut self, v: i64) {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
            Protocol::Compact => self.zigzag(v),
        }
    }

    /// A double value.
    pub fn double(&mut self, v: f64) {
        match self.protocol {
            Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
            Protocol::Compact => self.out.extend_from_slice(&v.to_le_bytes()),
        }
    }

    /// A string or binary value.
    pub fn binary(&mut self, v: &[u8]) {
        match self.protocol {
            Protocol::Binary => self.i32(v.len() as i32),
            Protocol::Compact => self.varint(v.len() as u64),
        }
        self.out.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests;
