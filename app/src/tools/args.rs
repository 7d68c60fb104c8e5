//! Tool arguments: each tool declares its parameters once; the JSON schema surfaces show and
//! the validation every call passes are both built from that declaration.
//!
//! A refused argument is named with the reason (`argument `limit`: must be at most 200`).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Free text up to [`MAX_TEXT`] characters.
    Text,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A point in time: RFC 3339, Unix milliseconds as digits, or a duration ago (`30m`).
    Time,
    /// A duration such as `5m`.
    Span,
    /// How many rows; 1 up to the configured `max_results`.
    Limit,
    /// A list of label names, at most [`MAX_LABELS`].
    Labels,
}

/// One declared parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub description: &'static str,
}

impl Param {
    pub const fn optional(name: &'static str, kind: ParamKind, description: &'static str) -> Self {
        Self {
            name,
            kind,
            required: false,
            description,
        }
    }

    pub const fn required(name: &'static str, kind: ParamKind, description: &'static str) -> Self {
        Self {
            name,
            kind,
            required: true,
            description,
        }
    }
}

/// Longest text argument, in characters.
pub const MAX_TEXT: usize = 512;
/// Most label names in a list argument.
pub const MAX_LABELS: usize = 8;

/// A refused argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgProblem {
    pub argument: String,
    pub reason: String,
}

impl ArgProblem {
    pub fn new(argument: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            argument: argument.into(),
            reason: reason.into(),
        }
    }
}

/// A validated value.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Text(String),
    /// Unix milliseconds.
    Time(i64),
    SpanMs(i64),
    Count(usize),
    Labels(Vec<String>),
}

/// The validated arguments of one call, and their JSON form as given (kept with the result).
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: BTreeMap<&'static str, Arg>,
    /// The arguments as given, after validation (what the evidence records).
    pub given: Map<String, Value>,
}

/// The JSON schema of a parameter list.
pub fn schema(params: &[Param], max_results: usize) -> Value {
    let mut properties = Map::new();
    for p in params {
        let mut property = match p.kind {
            ParamKind::Text => json!({"type": "string", "maxLength": MAX_TEXT}),
            ParamKind::OneOf(words) => json!({"type": "string", "enum": words}),
            ParamKind::Time => json!({"type": "string", "maxLength": 40}),
            ParamKind::Span => {
                json!({"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$", "maxLength": 12})
            }
            ParamKind::Limit => {
                json!({"type": "integer", "minimum": 1, "maximum": max_results})
            }
            ParamKind::Labels => json!({
                "type": "array",
                "items": {"type": "string", "maxLength": 128},
                "maxItems": MAX_LABELS,
            }),
        };
        if let Some(object) = property.as_object_mut() {
            object.insert("description".to_owned(), json!(p.description));
        }
        properties.insert(p.name.to_owned(), property);
    }
    let required: Vec<&str> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Validates `given` (an object, or null for none) against `params`.
pub fn parse(
    params: &[Param],
    given: &Value,
    max_results: usize,
    now_ms: i64,
) -> Result<Args, ArgProblem> {
    let empty = Map::new();
    let object = match given {
        Value::Null => &empty,
        Value::Object(object) => object,
        _ => {
            return Err(ArgProblem::new(
                "arguments",
                "must be a JSON object of named arguments",
            ));
        }
    };
    for name in object.keys() {
        if !params.iter().any(|p| p.name == name) {
            let known: Vec<&str> = params.iter().map(|p| p.name).collect();
            return Err(ArgProblem::new(
                name.as_str(),
                format!(
                    "is not an argument of this tool (it takes: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut args = Args::default();
    for p in params {
        let value = match object.get(p.name) {
            None | Some(Value::Null) if p.required => {
                return Err(ArgProblem::new(p.name, "is required"));
            }
            None | Some(Value::Null) => continue,
            Some(value) => value,
        };
        let arg = one(p, value, max_results, now_ms)?;
        args.given.insert(p.name.to_owned(), value.clone());
        args.values.insert(p.name, arg);
    }
    Ok(args)
}

fn one(p: &Param, value: &Value, max_results: usize, now_ms: i64) -> Result<Arg, ArgProblem> {
    let fail = |reason: String| ArgProblem::new(p.name, reason);
    let text = || -> Result<&str, ArgProblem> {
        let text = value
            .as_str()
            .ok_or_else(|| fail("must be a string".to_owned()))?;
        if text.chars().count() > MAX_TEXT {
            return Err(fail(format!("is longer than {MAX_TEXT} characters")));
        }
        Ok(text)
    };
    Ok(match p.kind {
        ParamKind::Text => {
            let text = text()?.trim();
            if text.is_empty() {
                return Err(fail("must not be empty".to_owned()));
            }
            Arg::Text(text.to_owned())
        }
        ParamKind::OneOf(words) => {
            let text = text()?;
            if !words.contains(&text) {
                return Err(fail(format!("must be one of {}", words.join(", "))));
            }
            Arg::Text(text.to_owned())
        }
        ParamKind::Time => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                _ => text()?.trim().to_owned(),
            };
            Arg::Time(parse_time(&text, now_ms).map_err(fail)?)
        }
        ParamKind::Span => {
            let text = text()?;
            let span = model::duration::parse(text).map_err(fail)?;
            let ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
            if ms <= 0 {
                return Err(fail("must be longer than zero".to_owned()));
            }
            Arg::SpanMs(ms)
        }
        ParamKind::Limit => {
            let n = value
                .as_u64()
                .ok_or_else(|| fail("must be a whole number".to_owned()))?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n == 0 || n > max_results {
                return Err(fail(format!("must be between 1 and {max_results}")));
            }
            Arg::Count(n)
        }
        ParamKind::Labels => {
            let list = value
                .as_array()
                .ok_or_else(|| fail("must be a list of label names".to_owned()))?;
            if list.len() > MAX_LABELS {
                return Err(fail(format!("names more than {MAX_LABELS} labels")));
            }
            let mut out = Vec::new();
            for item in list {
                let name = item
                    .as_str()
                    .filter(|n| is_label_name(n))
                    .ok_or_else(|| fail(format!("{item} is not a label name")))?;
                out.push(name.to_owned());
            }
            Arg::Labels(out)
        }
    })
}

fn is_label_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// RFC 3339, Unix milliseconds (digits), or a duration before `now_ms` (`30m`).
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("{text:?} is too large for Unix milliseconds"));
    }
    if let Ok(ms) = incident::record::rfc3339::parse(text) {
        return Ok(ms);
    }
    match model::duration::parse(text) {
        Ok(ago) => Ok(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => Err(format!(
            "{text:?} is not a time: give RFC 3339 (2026-01-05T10:00:00Z), Unix milliseconds, \
             or a duration ago such as 30m"
        )),
    }
}

impl Args {
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Arg::Text(text)) => Some(text),
            _ => None,
        }
    }

    pub fn time(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(Arg::Time(ms)) => Some(*ms),
            _ => None,
        }
    }

    pub fn span_ms(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(Arg::SpanMs(ms)) => Some(*ms),
            _ => None,
        }
    }

    /// `limit`, else `default` (never above the configured maximum).
    pub fn limit(&self, default: usize, max: usize) -> usize {
        match self.values.get("limit") {
            Some(Arg::Count(n)) => *n,
            _ => default.min(max),
        }
    }

    pub fn labels(&self, name: &str) -> Option<&[String]> {
        match self.values.get(name) {
            Some(Arg::Labels(list)) => Some(list),
            _ => None,
        }
    }

    /// `since` and `until` (default: `until` now, `since` `default_span_ms` before it),
    /// refused when reversed or longer than `max_range_ms`.
    pub fn range(
        &self,
        now_ms: i64,
        default_span_ms: i64,
        max_range_ms: i64,
    ) -> Result<(i64, i64), ArgProblem> {
        let until = self.time("until").unwrap_or(now_ms);
        let since = self
            .time("since")
            .unwrap_or_else(|| until.saturating_sub(default_span_ms.min(max_range_ms)));
        if since >= until {
            return Err(ArgProblem::new("since", "must be before until"));
        }
        if until - since > max_range_ms {
            return Err(ArgProblem::new(
                "since",
                format!(
                    "reaches back more than {} before until (tools.max_range)",
                    span_words(max_range_ms)
                ),
            ));
        }
        Ok((since, until))
    }
}

/// `90s`, `15m`, `24h` for messages.
pub fn span_words(ms: i64) -> String {
    if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[Param] = &[
        Param::required("id", ParamKind::Text, "the id"),
        Param::optional("limit", ParamKind::Limit, "rows"),
        Param::optional("since", ParamKind::Time, "from"),
        Param::optional("by", ParamKind::Labels, "labels"),
        Param::optional("level", ParamKind::OneOf(&["warn", "error"]), "level"),
    ];

    #[test]
    fn refusals_name_the_argument() {
        let now = 1_000_000_000;
        let problem = |v: Value| parse(PARAMS, &v, 50, now).unwrap_err();
        assert_eq!(problem(json!({})).argument, "id");
        assert_eq!(problem(json!({"id": "x", "limit": 51})).argument, "limit");
        assert_eq!(problem(json!({"id": "x", "limit": "3"})).argument, "limit");
        assert_eq!(problem(json!({"id": "x", "colour": 1})).argument, "colour");
        assert_eq!(
            problem(json!({"id": "x", "since": "yesterday"})).argument,
            "since"
        );
        assert_eq!(problem(json!({"id": "x", "by": ["a b"]})).argument, "by");
        assert_eq!(
            problem(json!({"id": "x", "level": "info"})).argument,
            "level"
        );
        assert_eq!(problem(json!([1])).argument, "arguments");
        let args = parse(
            PARAMS,
            &json!({"id": "x", "limit": 5, "since": "30m", "by": ["pod"]}),
            50,
            now,
        )
        .unwrap();
        assert_eq!(args.text("id"), Some("x"));
        assert_eq!(args.limit(10, 50), 5);
        assert_eq!(args.time("since"), Some(now - 30 * 60_000));
        assert_eq!(args.labels("by"), Some(&["pod".to_owned()][..]));
    }

    #[test]
    fn times_in_three_forms_and_bounded_ranges() {
        assert_eq!(parse_time("1767571200123", 0), Ok(1_767_571_200_123));
        assert_eq!(
            parse_time("2026-01-05T00:00:00.123Z", 0),
            Ok(1_767_571_200_123)
        );
        assert_eq!(parse_time("1h", 7_200_000), Ok(3_600_000));
        let args = parse(PARAMS, &json!({"id": "x", "since": "48h"}), 50, 200_000_000).unwrap();
        let problem = args.range(200_000_000, 3_600_000, 86_400_000).unwrap_err();
        assert_eq!(problem.argument, "since");
        assert!(problem.reason.contains("24h"), "{}", problem.reason);
    }

    #[test]
    fn schema_lists_every_parameter() {
        let schema = schema(PARAMS, 50);
        assert_eq!(schema["required"], json!(["id"]));
        assert_eq!(schema["properties"]["limit"]["maximum"], json!(50));
        assert_eq!(schema["additionalProperties"], json!(false));
    }
}
