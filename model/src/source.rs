//! Sources: where a write came from — a tenant (`X-Scope-OrgID`) and, optionally, the value of
//! a configured label (e.g. `cluster`). Every source keeps its own event-time clock.

/// The source of writes that name no tenant.
pub const DEFAULT_SOURCE: &str = "default";

/// The source of srebot's scrape of its own `/metrics`.
pub const SELF_SOURCE: &str = "self";

/// The source `srebot replay` writes to unless told otherwise.
pub const REPLAY_SOURCE: &str = "replay";

/// Longest source name accepted.
pub const MAX_SOURCE_LEN: usize = 128;

/// Why a source name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("source name is empty")]
    Empty,
    #[error("source name of {len} bytes is over the limit of {MAX_SOURCE_LEN}")]
    TooLong { len: usize },
    #[error("source name {name:?} holds {ch:?}: use letters, digits and . _ - : /")]
    BadCharacter { name: String, ch: char },
}

/// Checks a source name: 1 to [`MAX_SOURCE_LEN`] bytes of letters, digits and `._-:/`.
pub fn check_source(name: &str) -> Result<(), SourceError> {
    if name.is_empty() {
        return Err(SourceError::Empty);
    }
    if name.len() > MAX_SOURCE_LEN {
        return Err(SourceError::TooLong { len: name.len() });
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/')))
    {
        Some(ch) => Err(SourceError::BadCharacter {
            name: name.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// The source of a write: the tenant alone, or the source label's value (prefixed with the
/// tenant unless it is the default one), so `cluster="a"` of the default tenant is `a` and of
/// tenant `acme` is `acme/a`.
pub fn source_name(tenant: Option<&str>, label_value: Option<&str>) -> String {
    let tenant = tenant.filter(|t| !t.is_empty()).unwrap_or(DEFAULT_SOURCE);
    match label_value.filter(|v| !v.is_empty()) {
        None => tenant.to_owned(),
        Some(value) if tenant == DEFAULT_SOURCE => value.to_owned(),
        Some(value) => format!("{tenant}/{value}"),
    }
}

/// Serde default of a `source` field.
pub fn default_source() -> String {
    DEFAULT_SOURCE.to_owned()
}

/// Serde skip test: the default source is left out of serialized candidates.
pub fn is_default_source(source: &str) -> bool {
    source == DEFAULT_SOURCE
}

impl crate::Classify for SourceError {
    fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_tenant_and_label() {
        assert_eq!(source_name(None, None), "default");
        assert_eq!(source_name(Some(""), None), "default");
        assert_eq!(source_name(Some("acme"), None), "acme");
        assert_eq!(source_name(None, Some("eu-1")), "eu-1");
        assert_eq!(source_name(Some("acme"), Some("eu-1")), "acme/eu-1");
        assert!(check_source("acme/eu-1").is_ok());
        assert_eq!(check_source(""), Err(SourceError::Empty));
        assert!(matches!(
            check_source("a b"),
            Err(SourceError::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            check_source(&"x".repeat(129)),
            Err(SourceError::TooLong { len: 129 })
        ));
    }
}
