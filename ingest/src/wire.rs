//! A minimal borrowed protobuf reader: varints, fixed64, length-delimited slices, and skipping
//! of unknown fields, each failure naming the message and field being read.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// What went wrong at the byte level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireIssue {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint longer than 10 bytes")]
    LongVarint,
    #[error("length {len} runs past the end of the message ({left} bytes left)")]
    Overrun { len: u64, left: usize },
    #[error("unsupported wire type {0}")]
    BadWireType(u64),
    #[error("field number 0")]
    ZeroField,
    #[error("field {field} has wire type {got:?}, expected {expected:?}")]
    WrongType {
        field: u64,
        got: &'static str,
        expected: &'static str,
    },
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireIssue> {
        let mut value = 0u64;
        for shift in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(WireIssue::TruncatedVarint)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (shift * 7);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireIssue::LongVarint)
    }

    pub(crate) fn key(&mut self) -> Result<(u64, WireType), WireIssue> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(WireIssue::ZeroField);
        }
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => return Err(WireIssue::BadWireType(other)),
        };
        Ok((field, wire))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], WireIssue> {
        let left = self.buf.len() - self.pos;
        if len > left as u64 {
            return Err(WireIssue::Overrun { len, left });
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], WireIssue> {
        let len = self.varint()?;
        self.take(len)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, WireIssue> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub(crate) fn skip(&mut self, wire: WireType) -> Result<(), WireIssue> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
        }
    }
}

fn name(wire: WireType) -> &'static str {
    match wire {
        WireType::Varint => "varint",
        WireType::Fixed64 => "fixed64",
        WireType::Len => "length-delimited",
        WireType::Fixed32 => "fixed32",
    }
}

pub(crate) fn expect(field: u64, got: WireType, expected: WireType) -> Result<(), WireIssue> {
    if got == expected {
        Ok(())
    } else {
        Err(WireIssue::WrongType {
            field,
            got: name(got),
            expected: name(expected),
        })
    }
}
