//! A minimal borrowed protobuf reader: varints, fixed-width scalars, length-delimited slices
//! and skipping of unknown fields of every wire type; a failure names the byte it happened at.

/// Deepest nesting of (deprecated) groups skipped before the input is refused.
const MAX_GROUP_DEPTH: u32 = 64;

/// The protobuf wire types, including the deprecated group markers (skipped, never used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

impl WireType {
    fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::StartGroup => "start-group",
            WireType::EndGroup => "end-group",
            WireType::Fixed32 => "fixed32",
        }
    }
}

impl std::fmt::Display for WireType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong at the byte level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireIssue {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    #[error("length {len} runs past the end of the message ({left} bytes left)")]
    Overrun { len: u64, left: usize },
    #[error("invalid wire type {0}")]
    BadWireType(u8),
    #[error("invalid field number {0}")]
    BadFieldNumber(u64),
    #[error("wire type {got}, expected {expected}")]
    WrongType { got: WireType, expected: WireType },
    #[error("end-group without a matching start-group")]
    UnmatchedEndGroup,
    #[error("groups nested deeper than {MAX_GROUP_DEPTH}")]
    GroupsTooDeep,
    #[error("group not closed before the end of the message")]
    UnclosedGroup,
    #[error("value {value} does not fit in 32 bits")]
    Over32Bits { value: u64 },
}

/// A [`WireIssue`] and the byte offset (from the start of the decoded body) it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) issue: WireIssue,
    pub(crate) offset: usize,
}

/// Reads one protobuf message; `base` is where `buf` starts in the whole body, for messages.
/// A failed read leaves the position where the failing item starts.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Offset of the next byte from the start of the whole body.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline]
    fn fault(&self, issue: WireIssue) -> Fault {
        Fault {
            issue,
            offset: self.offset(),
        }
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, Fault> {
        match self.buf.get(self.pos) {
            Some(&byte) if byte < 0x80 => {
                self.pos += 1;
                Ok(u64::from(byte))
            }
            _ => self.varint_slow(),
        }
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, Fault> {
        let mut value = 0u64;
        for (i, &byte) in self.buf[self.pos..].iter().take(10).enumerate() {
            if i == 9 && byte > 1 {
                return Err(self.fault(WireIssue::VarintOverflow));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if self.buf.len() - self.pos >= 10 {
            Err(self.fault(WireIssue::VarintOverflow))
        } else {
            Err(self.fault(WireIssue::TruncatedVarint))
        }
    }

    /// A varint that must fit in 32 bits (`uint32` fields).
    #[inline]
    pub(crate) fn varint32(&mut self) -> Result<u32, Fault> {
        let start = self.pos;
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| {
            self.pos = start;
            self.fault(WireIssue::Over32Bits { value })
        })
    }

    /// The next field key: field number and wire type.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), Fault> {
        let start = self.pos;
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            other => {
                self.pos = start;
                return Err(self.fault(WireIssue::BadWireType(other as u8)));
            }
        };
        let field = key >> 3;
        match u32::try_from(field) {
            Ok(field) if field != 0 && field < (1 << 29) => Ok((field, wire)),
            _ => {
                self.pos = start;
                Err(self.fault(WireIssue::BadFieldNumber(field)))
            }
        }
    }

    #[inline]
    fn take(&mut self, len: u64) -> Result<&'a [u8], Fault> {
        let left = self.buf.len() - self.pos;
        if len > left as u64 {
            return Err(self.fault(WireIssue::Overrun { len, left }));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A length-delimited field's bytes.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Fault> {
        let start = self.pos;
        let len = self.varint()?;
        self.take(len).map_err(|fault| {
            self.pos = start;
            Fault {
                offset: self.offset(),
                ..fault
            }
        })
    }

    /// A length-delimited field read as a nested message.
    #[inline]
    pub(crate) fn message(&mut self) -> Result<Reader<'a>, Fault> {
        let bytes = self.bytes()?;
        let base = self.offset() - bytes.len();
        Ok(Reader::new(bytes, base))
    }

    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<u64, Fault> {
        match self.buf.get(self.pos..self.pos + 8) {
            Some(bytes) => {
                let mut array = [0u8; 8];
                array.copy_from_slice(bytes);
                self.pos += 8;
                Ok(u64::from_le_bytes(array))
            }
            None => Err(self.fault(WireIssue::Overrun {
                len: 8,
                left: self.buf.len() - self.pos,
            })),
        }
    }

    /// Skips the value of a field whose key has just been read.
    pub(crate) fn skip(&mut self, field: u32, wire: WireType) -> Result<(), Fault> {
        self.skip_at_depth(field, wire, 0)
    }

    fn skip_at_depth(&mut self, field: u32, wire: WireType, depth: u32) -> Result<(), Fault> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
            WireType::EndGroup => Err(self.fault(WireIssue::UnmatchedEndGroup)),
            WireType::StartGroup => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(self.fault(WireIssue::GroupsTooDeep));
                }
                loop {
                    if self.done() {
                        return Err(self.fault(WireIssue::UnclosedGroup));
                    }
                    let (inner, inner_wire) = self.key()?;
                    if inner_wire == WireType::EndGroup {
                        if inner == field {
                            return Ok(());
                        }
                        return Err(self.fault(WireIssue::UnmatchedEndGroup));
                    }
                    self.skip_at_depth(inner, inner_wire, depth + 1)?;
                }
            }
        }
    }

    /// Refuses a known field sent with another wire type than its schema's.
    #[inline]
    pub(crate) fn expect(&self, got: WireType, expected: WireType) -> Result<(), Fault> {
        if got == expected {
            Ok(())
        } else {
            Err(self.fault(WireIssue::WrongType { got, expected }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn varint_bytes(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(value, &mut out);
        out
    }

    #[test]
    fn varints_round_trip_at_every_length() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, u64::MAX >> shift] {
                let bytes = varint_bytes(value);
                let mut reader = Reader::new(&bytes, 0);
                assert_eq!(reader.varint(), Ok(value));
                assert!(reader.done());
            }
        }
    }

    #[test]
    fn varint_faults_name_the_problem_and_offset() {
        let mut reader = Reader::new(&[0x05, 0x80, 0x80], 100);
        assert_eq!(reader.varint(), Ok(5));
        let fault = reader.varint().unwrap_err();
        assert_eq!(fault.issue, WireIssue::TruncatedVarint);
        assert_eq!(fault.offset, 101);
        let mut reader = Reader::new(&[0xff; 11], 0);
        assert_eq!(
            reader.varint().unwrap_err().issue,
            WireIssue::VarintOverflow
        );
        let mut ten = vec![0xff; 9];
        ten.push(0x02);
        assert_eq!(
            Reader::new(&ten, 0).varint().unwrap_err().issue,
            WireIssue::VarintOverflow
        );
        assert_eq!(
            Reader::new(&varint_bytes(1 << 40), 0)
                .varint32()
                .unwrap_err()
                .issue,
            WireIssue::Over32Bits { value: 1 << 40 }
        );
    }

    #[test]
    fn keys_refuse_bad_wire_types_and_field_zero() {
        assert_eq!(
            Reader::new(&[0x0f], 0).key().unwrap_err().issue,
            WireIssue::BadWireType(7)
        );
        assert_eq!(
            Reader::new(&[0x02], 0).key().unwrap_err().issue,
            WireIssue::BadFieldNumber(0)
        );
        assert_eq!(Reader::new(&[0x12], 0).key(), Ok((2, WireType::Len)));
    }

    #[test]
    fn skips_every_wire_type_including_nested_groups() {
        // field 1 varint, field 2 fixed64, field 3 bytes, field 4 group holding a group and a
        // fixed32, then field 5 varint 42 which must be read after the skips.
        let mut body = vec![0x08, 0x96, 0x01, 0x11];
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(&[0x1a, 0x02, b'h', b'i']);
        body.extend_from_slice(&[0x23, 0x33, 0x08, 0x01, 0x34, 0x3d, 1, 2, 3, 4, 0x24]);
        body.extend_from_slice(&[0x28, 42]);
        let mut reader = Reader::new(&body, 0);
        loop {
            let (field, wire) = reader.key().unwrap();
            if field == 5 {
                assert_eq!(reader.varint(), Ok(42));
                break;
            }
            reader.skip(field, wire).unwrap();
        }
        assert!(reader.done());
    }

    #[test]
    fn refuses_unmatched_and_runaway_groups() {
        let mut reader = Reader::new(&[0x0c], 0);
        let (field, wire) = reader.key().unwrap();
        assert_eq!(
            reader.skip(field, wire).unwrap_err().issue,
            WireIssue::UnmatchedEndGroup
        );
        let deep = vec![0x0b; 1000];
        let mut reader = Reader::new(&deep, 0);
        let (field, wire) = reader.key().unwrap();
        assert_eq!(
            reader.skip(field, wire).unwrap_err().issue,
            WireIssue::GroupsTooDeep
        );
        let mut reader = Reader::new(&[0x0b, 0x08, 0x01], 0);
        let (field, wire) = reader.key().unwrap();
        assert_eq!(
            reader.skip(field, wire).unwrap_err().issue,
            WireIssue::UnclosedGroup
        );
    }

    #[test]
    fn nested_messages_report_offsets_in_the_whole_body() {
        let inner = crate::proto::Sample {
            value: 1.5,
            timestamp: 7,
        }
        .encode_to_vec();
        let mut body = vec![0x12, inner.len() as u8];
        body.extend_from_slice(&inner);
        let mut reader = Reader::new(&body, 0);
        reader.key().unwrap();
        let nested = reader.message().unwrap();
        assert_eq!(nested.offset(), 2);
        assert!(reader.done());
        let mut short = Reader::new(&[0x05, 1, 2], 10);
        let fault = short.bytes().unwrap_err();
        assert_eq!(fault.issue, WireIssue::Overrun { len: 5, left: 2 });
        assert_eq!(fault.offset, 10);
    }
}
