//! Structural checks of the parts of a request the receiver does not store (exemplars, bucket
//! layouts of native histograms), so a malformed one refuses the request like any other part.

use crate::error::{DecodeError, Place};
use crate::wire::{Reader, WireType};

/// What a field of a message must look like on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A single scalar of this wire type.
    Scalar(WireType),
    /// A repeated varint, packed or not.
    RepeatedVarint,
    /// A repeated fixed64 (double), packed or not.
    RepeatedFixed64,
    /// A UTF-8 string.
    Text,
    /// A nested message.
    Message(&'static str, &'static [(u32, Shape)]),
}

pub(crate) const LABEL: &[(u32, Shape)] = &[(1, Shape::Text), (2, Shape::Text)];

/// 1.0 `Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }`.
pub(crate) const EXEMPLAR_V1: &[(u32, Shape)] = &[
    (1, Shape::Message("Label", LABEL)),
    (2, Shape::Scalar(WireType::Fixed64)),
    (3, Shape::Scalar(WireType::Varint)),
];

/// 2.0 `Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }`.
pub(crate) const EXEMPLAR_V2: &[(u32, Shape)] = &[
    (1, Shape::RepeatedVarint),
    (2, Shape::Scalar(WireType::Fixed64)),
    (3, Shape::Scalar(WireType::Varint)),
];

const BUCKET_SPAN: &[(u32, Shape)] = &[
    (1, Shape::Scalar(WireType::Varint)),
    (2, Shape::Scalar(WireType::Varint)),
];

/// The `Histogram` fields the decoder does not read itself (4 to 13 and 16).
pub(crate) const HISTOGRAM_REST: &[(u32, Shape)] = &[
    (4, Shape::Scalar(WireType::Varint)),
    (5, Shape::Scalar(WireType::Fixed64)),
    (6, Shape::Scalar(WireType::Varint)),
    (7, Shape::Scalar(WireType::Fixed64)),
    (8, Shape::Message("BucketSpan", BUCKET_SPAN)),
    (9, Shape::RepeatedVarint),
    (10, Shape::RepeatedFixed64),
    (11, Shape::Message("BucketSpan", BUCKET_SPAN)),
    (12, Shape::RepeatedVarint),
    (13, Shape::RepeatedFixed64),
    (16, Shape::RepeatedFixed64),
];

/// The shape of `field` in `fields`, if the schema knows it.
pub(crate) fn lookup(fields: &[(u32, Shape)], field: u32) -> Option<Shape> {
    fields
        .iter()
        .find(|(number, _)| *number == field)
        .map(|(_, shape)| *shape)
}

/// Checks one field value (its key already read) against `shape`.
pub(crate) fn check_field(
    reader: &mut Reader<'_>,
    field: u32,
    wire: WireType,
    shape: Shape,
    place: Place,
) -> Result<(), DecodeError> {
    let err = place.field(field);
    match (shape, wire) {
        (Shape::Scalar(expected), _) => {
            reader.expect(wire, expected).map_err(&err)?;
            reader.skip(field, wire).map_err(&err)
        }
        (Shape::RepeatedVarint, WireType::Len) => {
            let mut packed = reader.message().map_err(&err)?;
            while !packed.done() {
                packed.varint().map_err(&err)?;
            }
            Ok(())
        }
        (Shape::RepeatedFixed64, WireType::Len) => {
            let mut packed = reader.message().map_err(&err)?;
            while !packed.done() {
                packed.fixed64().map_err(&err)?;
            }
            Ok(())
        }
        (Shape::RepeatedVarint, _) => {
            reader.expect(wire, WireType::Varint).map_err(&err)?;
            reader.varint().map(drop).map_err(&err)
        }
        (Shape::RepeatedFixed64, _) => {
            reader.expect(wire, WireType::Fixed64).map_err(&err)?;
            reader.fixed64().map(drop).map_err(&err)
        }
        (Shape::Text, _) => {
            reader.expect(wire, WireType::Len).map_err(&err)?;
            let offset = reader.offset();
            let bytes = reader.bytes().map_err(&err)?;
            std::str::from_utf8(bytes)
                .map(drop)
                .map_err(|source| DecodeError::TextUtf8 {
                    message: place.message,
                    field,
                    series: place.series,
                    offset,
                    source,
                })
        }
        (Shape::Message(name, fields), _) => {
            reader.expect(wire, WireType::Len).map_err(&err)?;
            let nested = reader.message().map_err(&err)?;
            check_message(nested, fields, Place::new(name, place.series))
        }
    }
}

/// Checks a whole message against its schema; unknown fields are skipped.
pub(crate) fn check_message(
    mut reader: Reader<'_>,
    fields: &[(u32, Shape)],
    place: Place,
) -> Result<(), DecodeError> {
    while !reader.done() {
        let (field, wire) = reader.key().map_err(place.key())?;
        match lookup(fields, field) {
            Some(shape) => check_field(&mut reader, field, wire, shape, place)?,
            None => reader.skip(field, wire).map_err(place.field(field))?,
        }
    }
    Ok(())
}
