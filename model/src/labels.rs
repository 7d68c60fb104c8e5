//! Label sets: the identity of a series, validated as the remote_write spec requires.
//! Owned form for storage and APIs; decoders validate borrowed `(&str, &str)` pairs with
//! [`validate_sorted`] before anything is stored.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The label that carries a metric's name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// Why a set of labels is not a valid series identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("label set is empty")]
    Empty,
    #[error("label name is empty (value {value:?})")]
    EmptyName { value: String },
    #[error("duplicate label name {name:?}")]
    Duplicate { name: String },
    #[error("labels not sorted by name: {previous:?} comes before {name:?}")]
    Unsorted { previous: String, name: String },
    #[error("series has no {METRIC_NAME} label")]
    MissingMetricName,
}

/// Validates borrowed labels in wire order: non-empty names, strictly increasing by name
/// (which also rules out duplicates), and a `__name__` present. Names may be any UTF-8, as
/// Prometheus 3 allows.
pub fn validate_sorted<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), LabelError> {
    let mut previous: Option<&str> = None;
    let mut has_name = false;
    let mut any = false;
    for (name, value) in labels {
        any = true;
        if name.is_empty() {
            return Err(LabelError::EmptyName {
                value: value.to_owned(),
            });
        }
        if let Some(prev) = previous {
            match prev.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(LabelError::Duplicate {
                        name: name.to_owned(),
                    });
                }
                std::cmp::Ordering::Greater => {
                    return Err(LabelError::Unsorted {
                        previous: prev.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
        }
        has_name |= name == METRIC_NAME;
        previous = Some(name);
    }
    if !any {
        return Err(LabelError::Empty);
    }
    if !has_name {
        return Err(LabelError::MissingMetricName);
    }
    Ok(())
}

/// A validated, name-sorted set of labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet(Vec<Label>);

impl LabelSet {
    /// Builds a set from pairs in any order, sorting them; refuses empty or duplicate names.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, LabelError> {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        labels.sort();
        for pair in labels.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(LabelError::Duplicate {
                    name: pair[0].name.clone(),
                });
            }
        }
        if let Some(label) = labels.iter().find(|l| l.name.is_empty()) {
            return Err(LabelError::EmptyName {
                value: label.value.clone(),
            });
        }
        Ok(Self(labels))
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), or `""`.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME).unwrap_or("")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }
}

impl fmt::Display for LabelSet {
    /// Prometheus notation: `name{a="b",c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric_name())?;
        f.write_str("{")?;
        let mut first = true;
        for label in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

impl Serialize for LabelSet {
    /// As a JSON object `{"name":"value",...}`, the shape Prometheus's API uses.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in &self.0 {
            map.serialize_entry(&label.name, &label.value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        LabelSet::from_pairs(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_catches_each_problem() {
        assert_eq!(validate_sorted([("__name__", "up"), ("a", "1")]), Ok(()));
        assert!(matches!(
            validate_sorted([("__name__", "up"), ("b", "1"), ("a", "2")]),
            Err(LabelError::Unsorted { .. })
        ));
        assert!(matches!(
            validate_sorted([("__name__", "up"), ("a", "1"), ("a", "2")]),
            Err(LabelError::Duplicate { .. })
        ));
        assert!(matches!(
            validate_sorted([("", "x"), ("__name__", "up")]),
            Err(LabelError::EmptyName { .. })
        ));
        assert!(matches!(
            validate_sorted([("job", "x")]),
            Err(LabelError::MissingMetricName)
        ));
        assert_eq!(validate_sorted([]), Err(LabelError::Empty));
    }

    #[test]
    fn label_set_sorts_and_serialises_as_object() {
        let set = LabelSet::from_pairs([("job", "api"), ("__name__", "up")]).unwrap();
        assert_eq!(set.metric_name(), "up");
        assert_eq!(set.to_string(), r#"up{job="api"}"#);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"{"__name__":"up","job":"api"}"#);
        let back: LabelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
    }
}
