//! Prometheus series selectors: `name{label="v", other=~"re.*", x!="y", z!~"w"}`.
//! Regexes are fully anchored, as in Prometheus; a selector needs a name or a matcher.

use crate::{SelectorProblem, WindowError};
use model::LabelSet;
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// A matcher; for `=~` and `!~` a value that is not a valid regex matches nothing.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Self {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Regex::new(&format!("^(?:{value})$")).ok(),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        }
    }

    /// Whether the value of this matcher's label (`""` when absent) matches.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
    text: String,
}

impl Selector {
    /// A selector from matchers already built (an empty list matches every series).
    pub fn from_matchers(matchers: Vec<Matcher>) -> Self {
        let text = matchers
            .iter()
            .map(|m| {
                let op = match m.op {
                    MatchOp::Equal => "=",
                    MatchOp::NotEqual => "!=",
                    MatchOp::Regex => "=~",
                    MatchOp::NotRegex => "!~",
                };
                format!("{}{op}{:?}", m.name, m.value)
            })
            .collect::<Vec<_>>()
            .join(",");
        Self {
            matchers,
            text: format!("{{{text}}}"),
        }
    }

    /// Whether a label set matches every matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches_value(labels.get(&m.name).unwrap_or("")))
    }

    /// Whether name-sorted label pairs match every matcher.
    pub fn matches_pairs(&self, labels: &[(&str, &str)]) -> bool {
        self.matchers.iter().all(|m| {
            let value = labels
                .binary_search_by(|(n, _)| (*n).cmp(m.name.as_str()))
                .map_or("", |i| labels[i].1);
            m.matches_value(value)
        })
    }

    /// The metric name if the selector pins one with `=`.
    pub fn metric_name(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == model::METRIC_NAME && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str())
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let fail = |problem: SelectorProblem| WindowError::Selector {
            selector: text.to_owned(),
            problem,
        };
        let trimmed = text.trim();
        let (name, rest) = match trimmed.find('{') {
            Some(i) => (trimmed[..i].trim(), Some(&trimmed[i..])),
            None => (trimmed, None),
        };
        let mut matchers = Vec::new();
        if !name.is_empty() {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(fail(SelectorProblem::MetricName {
                    name: name.to_owned(),
                }));
            }
            matchers.push(Matcher {
                name: model::METRIC_NAME.to_owned(),
                op: MatchOp::Equal,
                value: name.to_owned(),
                regex: None,
            });
        }
        if let Some(body) = rest {
            let inner = body
                .strip_prefix('{')
                .and_then(|b| b.strip_suffix('}'))
                .ok_or_else(|| fail(SelectorProblem::Braces))?;
            let mut chars = inner.char_indices().peekable();
            loop {
                while chars
                    .peek()
                    .is_some_and(|(_, c)| c.is_whitespace() || *c == ',')
                {
                    chars.next();
                }
                let Some(&(start, _)) = chars.peek() else {
                    break;
                };
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let label = &inner[start..end];
                if label.is_empty() {
                    return Err(fail(SelectorProblem::LabelName {
                        at: inner[start..].to_owned(),
                    }));
                }
                while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    chars.next();
                }
                let mut op_text = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if matches!(c, '=' | '!' | '~') {
                        op_text.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let op = match op_text.as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    "!~" => MatchOp::NotRegex,
                    other => {
                        return Err(fail(SelectorProblem::Operator {
                            label: label.to_owned(),
                            operator: other.to_owned(),
                        }));
                    }
                };
                while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    chars.next();
                }
                let quote = match chars.next() {
                    Some((_, q @ ('"' | '\'' | '`'))) => q,
                    _ => {
                        return Err(fail(SelectorProblem::Unquoted {
                            label: label.to_owned(),
                        }));
                    }
                };
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    if c == quote {
                        closed = true;
                        break;
                    }
                    if c == '\\' && quote != '`' {
                        match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, other)) => value.push(other),
                            None => break,
                        }
                    } else {
                        value.push(c);
                    }
                }
                if !closed {
                    return Err(fail(SelectorProblem::Unterminated {
                        label: label.to_owned(),
                    }));
                }
                let regex = match op {
                    MatchOp::Regex | MatchOp::NotRegex => {
                        Some(Regex::new(&format!("^(?:{value})$")).map_err(|source| {
                            WindowError::Regex {
                                selector: text.to_owned(),
                                pattern: value.clone(),
                                source,
                            }
                        })?)
                    }
                    _ => None,
                };
                matchers.push(Matcher {
                    name: label.to_owned(),
                    op,
                    value,
                    regex,
                });
            }
        }
        if matchers.is_empty() {
            return Err(fail(SelectorProblem::Empty));
        }
        Ok(Self {
            matchers,
            text: trimmed.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn all_four_matchers_and_anchoring() {
        let l = labels(&[("__name__", "up"), ("job", "api"), ("env", "prod")]);
        assert!(Selector::parse("up").unwrap().matches(&l));
        assert!(Selector::parse(r#"up{job="api"}"#).unwrap().matches(&l));
        assert!(!Selector::parse(r#"up{job!="api"}"#).unwrap().matches(&l));
        assert!(Selector::parse(r#"{job=~"a.i|web"}"#).unwrap().matches(&l));
        assert!(
            !Selector::parse(r#"{job=~"a"}"#).unwrap().matches(&l),
            "anchored"
        );
        assert!(
            Selector::parse(r#"up{env!~"dev|test", missing=""}"#)
                .unwrap()
                .matches(&l)
        );
    }

    #[test]
    fn errors_name_the_problem() {
        for (text, needle) in [
            ("up{job=api}", "quoted"),
            ("up{job=\"api\"", "braces"),
            ("up{job<>\"x\"}", "operator"),
            ("", "matcher"),
            ("up{job=~\"(\"}", "regex"),
        ] {
            let error = Selector::parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
