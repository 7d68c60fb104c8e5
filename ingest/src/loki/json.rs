//! The JSON push body, in both shapes Loki has accepted: `{"stream":{..},"values":[[ts,line]]}`
//! (v1, nanosecond timestamps as strings) and the legacy `{"labels":"{..}","entries":[..]}`.
//!
//! Deserialization keeps timestamps raw so a bad one is reported with its stream and entry.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// The whole body.
#[derive(Debug, Deserialize)]
pub(crate) struct RawPush {
    #[serde(default)]
    pub(crate) streams: Vec<RawStream>,
}

/// One stream, in either shape; which fields are set is checked after reading.
#[derive(Debug, Deserialize)]
pub(crate) struct RawStream {
    #[serde(default)]
    pub(crate) stream: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) values: Option<Vec<RawValue>>,
    #[serde(default)]
    pub(crate) labels: Option<String>,
    #[serde(default)]
    pub(crate) entries: Option<Vec<RawLegacyEntry>>,
}

/// `[ts, line]` or `[ts, line, {structured metadata}]`.
#[derive(Debug)]
pub struct RawValue {
    pub ts: RawTs,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// `{"ts": "<RFC 3339>", "line": "..."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawLegacyEntry {
    pub(crate) ts: RawTs,
    pub(crate) line: String,
}

/// A timestamp as it was written, judged later.
#[derive(Debug)]
pub enum RawTs {
    Text(String),
    Int(i128),
    /// Any other JSON type, by name.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for RawTs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TsVisitor;
        impl<'de> Visitor<'de> for TsVisitor {
            type Value = RawTs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTs, E> {
                Ok(RawTs::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawTs, E> {
                Ok(RawTs::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTs, E> {
                Ok(RawTs::Int(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTs, E> {
                Ok(RawTs::Int(i128::from(v)))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawTs, E> {
                Ok(RawTs::Other("a floating-point number"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawTs, E> {
                Ok(RawTs::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawTs, E> {
                Ok(RawTs::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawTs, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawTs::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTs, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(RawTs::Other("an object"))
            }
        }
        deserializer.deserialize_any(TsVisitor)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array [timestamp, line] or [timestamp, line, {metadata}]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let ts = seq
                    .next_element::<RawTs>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line = seq
                    .next_element::<String>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata = seq
                    .next_element::<Pairs>()?
                    .map(|p| p.0)
                    .unwrap_or_default();
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(RawValue { ts, line, metadata })
            }
        }
        deserializer.deserialize_seq(ValueVisitor)
    }
}

/// A JSON object of strings, in the order written. One level of nested objects is flattened,
/// so Loki's categorized answer `{"structuredMetadata":{..},"parsed":{..}}` reads too.
pub(crate) struct Pairs(pub(crate) Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor { nested: true })
    }
}

struct PairsVisitor {
    /// Whether a value may itself be an object of strings.
    nested: bool,
}

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Pairs;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of string values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key::<String>()? {
            if self.nested {
                match map.next_value::<MetaValue>()? {
                    MetaValue::Text(value) => pairs.push((key, value)),
                    MetaValue::Nested(inner) => pairs.extend(inner),
                }
            } else {
                pairs.push((key, map.next_value::<String>()?));
            }
        }
        Ok(Pairs(pairs))
    }
}

/// A metadata value: a string, or one nested object of strings.
enum MetaValue {
    Text(String),
    Nested(Vec<(String, String)>),
}

impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetaVisitor;
        impl<'de> Visitor<'de> for MetaVisitor {
            type Value = MetaValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an object of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MetaValue, E> {
                Ok(MetaValue::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MetaValue, E> {
                Ok(MetaValue::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MetaValue, A::Error> {
                PairsVisitor { nested: false }
                    .visit_map(map)
                    .map(|p| MetaValue::Nested(p.0))
            }
        }
        deserializer.deserialize_any(MetaVisitor)
    }
}

/// Reads the body; shape and value checks happen in the caller, which knows the indices.
pub(crate) fn parse(body: &[u8]) -> Result<RawPush, serde_json::Error> {
    serde_json::from_slice(body)
}
