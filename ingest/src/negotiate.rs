//! Content negotiation as the Remote-Write 2.0 spec defines it: the `proto` parameter of the
//! Content-Type picks the message, Content-Encoding must be snappy; anything else is a 415.

use crate::error::{DecodeError, IngestError};

/// Which protobuf message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Remote-Write 1.0, `prometheus.WriteRequest`.
    V1,
    /// Remote-Write 2.0, `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    /// The fully qualified protobuf message name (the `proto` parameter).
    pub fn message_name(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The Content-Type a sender puts on a request of this protocol.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::V1 => "application/x-protobuf",
            Protocol::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` a sender puts on a request of this protocol.
    pub fn version_header(self) -> &'static str {
        match self {
            Protocol::V1 => "0.1.0",
            Protocol::V2 => "2.0.0",
        }
    }
}

/// Picks the protocol from the request headers.
///
/// `application/x-protobuf` without a `proto` parameter, or with
/// `proto=prometheus.WriteRequest`, is 1.0; `proto=io.prometheus.write.v2.Request` is 2.0; any
/// other media type or message is refused (415) naming it. An absent Content-Type is read as
/// 1.0, which is what the oldest senders mean. Content-Encoding must be `snappy`; its absence
/// is accepted as snappy because some 1.0 senders omit it. The version header
/// (`X-Prometheus-Remote-Write-Version`) is informational only: the spec makes Content-Type
/// the one that decides, so it never changes the outcome.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    _version: Option<&str>,
) -> Result<Protocol, IngestError> {
    if let Some(encoding) = content_encoding
        && !encoding.trim().eq_ignore_ascii_case("snappy")
    {
        return Err(DecodeError::ContentEncoding {
            encoding: encoding.to_owned(),
        }
        .into());
    }
    let Some(raw) = content_type else {
        return Ok(Protocol::V1);
    };
    let mut parts = raw.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(DecodeError::ContentType {
            content_type: raw.to_owned(),
        }
        .into());
    }
    let mut protocol = Protocol::V1;
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        protocol = if value == Protocol::V1.message_name() {
            Protocol::V1
        } else if value == Protocol::V2.message_name() {
            Protocol::V2
        } else {
            return Err(DecodeError::ProtoMessage {
                proto: value.to_owned(),
                content_type: raw.to_owned(),
            }
            .into());
        };
    }
    Ok(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Classify, ErrorClass};

    fn pick(content_type: Option<&str>, encoding: Option<&str>) -> Result<Protocol, String> {
        negotiate(content_type, encoding, None).map_err(|e| {
            assert_eq!(e.class(), ErrorClass::UnsupportedMediaType);
            e.to_string()
        })
    }

    #[test]
    fn picks_the_message_from_the_proto_parameter() {
        let snappy = Some("snappy");
        assert_eq!(
            pick(Some("application/x-protobuf"), snappy),
            Ok(Protocol::V1)
        );
        assert_eq!(pick(None, snappy), Ok(Protocol::V1));
        assert_eq!(
            pick(
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                snappy
            ),
            Ok(Protocol::V1)
        );
        assert_eq!(
            pick(
                Some(
                    "Application/X-Protobuf; charset=binary; proto=\"io.prometheus.write.v2.Request\""
                ),
                snappy
            ),
            Ok(Protocol::V2)
        );
        assert_eq!(
            pick(Some(Protocol::V2.content_type()), Some("SNAPPY")),
            Ok(Protocol::V2)
        );
        assert_eq!(
            pick(Some(Protocol::V1.content_type()), None),
            Ok(Protocol::V1)
        );
    }

    #[test]
    fn refuses_other_media_messages_and_encodings_naming_them() {
        let snappy = Some("snappy");
        let error = pick(Some("application/json"), snappy).unwrap_err();
        assert!(error.contains("\"application/json\""), "{error}");
        let error = pick(
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            snappy,
        )
        .unwrap_err();
        assert!(
            error.contains("\"io.prometheus.write.v3.Request\""),
            "{error}"
        );
        let error = pick(Some("application/x-protobuf"), Some("gzip")).unwrap_err();
        assert!(error.contains("\"gzip\""), "{error}");
        assert!(pick(Some("application/x-protobuf"), Some("")).is_err());
    }

    #[test]
    fn the_version_header_never_changes_the_outcome() {
        for version in [None, Some("0.1.0"), Some("2.0.0"), Some("nonsense")] {
            assert_eq!(
                negotiate(Some(Protocol::V2.content_type()), Some("snappy"), version).ok(),
                Some(Protocol::V2)
            );
            assert_eq!(
                negotiate(Some("application/x-protobuf"), None, version).ok(),
                Some(Protocol::V1)
            );
        }
    }
}
