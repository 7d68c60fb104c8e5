//! Why a remote_write request was refused, each variant naming exactly what is wrong and where,
//! and how each maps to an answer (400 bad body, 413 too large, 415 unsupported media type).

use crate::wire::{Fault, WireIssue};
use model::{Classify, ErrorClass, LabelError};
use std::convert::Infallible;
use std::str::Utf8Error;

/// Which half of a label failed a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelPart {
    Name,
    Value,
}

impl std::fmt::Display for LabelPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabelPart::Name => "name",
            LabelPart::Value => "value",
        })
    }
}

/// What refers into the remote_write 2.0 symbols table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolUse {
    Label,
    Help,
    Unit,
}

impl std::fmt::Display for SymbolUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SymbolUse::Label => "labels_refs",
            SymbolUse::Help => "metadata help_ref",
            SymbolUse::Unit => "metadata unit_ref",
        })
    }
}

/// Why the headers or the body of a request were refused. Series and label indices count
/// from 0 in request order; byte offsets count from the start of the decompressed body.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "unsupported content type {content_type:?}: send application/x-protobuf, optionally with proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request"
    )]
    ContentType { content_type: String },
    #[error(
        "unsupported remote_write message {proto:?} in content type {content_type:?}: this receiver accepts prometheus.WriteRequest and io.prometheus.write.v2.Request"
    )]
    ProtoMessage { proto: String, content_type: String },
    #[error(
        "unsupported content encoding {encoding:?}: remote_write bodies must be snappy block format"
    )]
    ContentEncoding { encoding: String },
    #[error("body is not valid snappy block format")]
    Snappy {
        #[source]
        source: snap::Error,
    },
    #[error("snappy body declares {declared} decoded bytes, over the limit of {limit} bytes")]
    TooLarge { declared: usize, limit: usize },
    #[error("protobuf: {issue} {}{}", describe_field(*field, message), describe_place(*series, *offset))]
    Protobuf {
        message: &'static str,
        /// The field being read, or `None` when a field key itself was unreadable.
        field: Option<u32>,
        series: Option<usize>,
        offset: usize,
        issue: WireIssue,
    },
    #[error("series {series}: label {label} {part} is not valid UTF-8")]
    LabelUtf8 {
        series: usize,
        label: usize,
        part: LabelPart,
        #[source]
        source: Utf8Error,
    },
    #[error("field {field} of {message} is not valid UTF-8{}", describe_place(*series, *offset))]
    TextUtf8 {
        message: &'static str,
        field: u32,
        series: Option<usize>,
        offset: usize,
        #[source]
        source: Utf8Error,
    },
    #[error("symbol {symbol} is not valid UTF-8")]
    SymbolUtf8 {
        symbol: usize,
        #[source]
        source: Utf8Error,
    },
    #[error("metadata {entry}: {field} is not valid UTF-8")]
    MetadataUtf8 {
        entry: usize,
        field: &'static str,
        #[source]
        source: Utf8Error,
    },
    #[error("series {series}: invalid label set")]
    Labels {
        series: usize,
        #[source]
        source: LabelError,
    },
    #[error(
        "series {series}: {used_as} symbol ref {reference} out of range (symbols table has {symbols})"
    )]
    SymbolRef {
        series: usize,
        used_as: SymbolUse,
        reference: u32,
        symbols: usize,
    },
    #[error("series {series}: labels_refs has an odd number of entries ({count})")]
    OddRefs { series: usize, count: usize },
    #[error("symbols table must start with the empty string, found {first:?}")]
    FirstSymbol { first: String },
}

fn describe_field(field: Option<u32>, message: &str) -> String {
    match field {
        Some(field) => format!("in field {field} of {message}"),
        None => format!("in a field key of {message}"),
    }
}

fn describe_place(series: Option<usize>, offset: usize) -> String {
    match series {
        Some(series) => format!(" (series {series}, byte {offset})"),
        None => format!(" (byte {offset})"),
    }
}

/// Where a protobuf read happens, to turn a [`Fault`] into a [`DecodeError`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub(crate) message: &'static str,
    pub(crate) series: Option<usize>,
}

impl Place {
    pub(crate) fn new(message: &'static str, series: Option<usize>) -> Self {
        Self { message, series }
    }

    /// A fault while reading a field key.
    pub(crate) fn key(self) -> impl Fn(Fault) -> DecodeError {
        self.make(None)
    }

    /// A fault while reading `field`.
    pub(crate) fn field(self, field: u32) -> impl Fn(Fault) -> DecodeError {
        self.make(Some(field))
    }

    fn make(self, field: Option<u32>) -> impl Fn(Fault) -> DecodeError {
        move |fault| DecodeError::Protobuf {
            message: self.message,
            field,
            series: self.series,
            offset: fault.offset,
            issue: fault.issue,
        }
    }
}

/// A refused request, or the visitor's own error passed through unchanged.
#[derive(Debug, thiserror::Error)]
pub enum IngestError<E = Infallible> {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Visitor(E),
}

impl Classify for DecodeError {
    fn class(&self) -> ErrorClass {
        match self {
            DecodeError::ContentType { .. }
            | DecodeError::ProtoMessage { .. }
            | DecodeError::ContentEncoding { .. } => ErrorClass::UnsupportedMediaType,
            DecodeError::TooLarge { .. } => ErrorClass::TooLarge,
            DecodeError::Snappy { .. }
            | DecodeError::Protobuf { .. }
            | DecodeError::LabelUtf8 { .. }
            | DecodeError::TextUtf8 { .. }
            | DecodeError::SymbolUtf8 { .. }
            | DecodeError::MetadataUtf8 { .. }
            | DecodeError::Labels { .. }
            | DecodeError::SymbolRef { .. }
            | DecodeError::OddRefs { .. }
            | DecodeError::FirstSymbol { .. } => ErrorClass::InvalidInput,
        }
    }
}

impl<E: Classify> Classify for IngestError<E> {
    fn class(&self) -> ErrorClass {
        match self {
            IngestError::Decode(e) => e.class(),
            IngestError::Visitor(e) => e.class(),
        }
    }
}

impl<E> IngestError<E> {
    /// The decode error, if the request itself was refused.
    pub fn as_decode(&self) -> Option<&DecodeError> {
        match self {
            IngestError::Decode(e) => Some(e),
            IngestError::Visitor(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_errors_name_field_message_series_and_byte() {
        let error = Place::new("TimeSeries", Some(3)).field(2)(Fault {
            issue: WireIssue::TruncatedVarint,
            offset: 41,
        });
        assert_eq!(
            error.to_string(),
            "protobuf: truncated varint in field 2 of TimeSeries (series 3, byte 41)"
        );
        let error = Place::new("WriteRequest", None).key()(Fault {
            issue: WireIssue::BadWireType(7),
            offset: 0,
        });
        assert_eq!(
            error.to_string(),
            "protobuf: invalid wire type 7 in a field key of WriteRequest (byte 0)"
        );
    }

    #[test]
    fn classes_map_to_the_right_answers() {
        let media = DecodeError::ContentEncoding {
            encoding: "gzip".into(),
        };
        assert_eq!(media.class(), ErrorClass::UnsupportedMediaType);
        let big = DecodeError::TooLarge {
            declared: 10,
            limit: 1,
        };
        assert_eq!(big.class(), ErrorClass::TooLarge);
        let bad: IngestError = DecodeError::OddRefs {
            series: 0,
            count: 3,
        }
        .into();
        assert_eq!(bad.class(), ErrorClass::InvalidInput);
        assert!(bad.as_decode().is_some());
    }
}
