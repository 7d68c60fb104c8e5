//! LogQL label strings: parsing the `{name="value", ...}` selector a Loki protobuf push carries
//! for each stream, and quoting values so that a selector we build means exactly what it says.
//!
//! Values are Go string literals, as Loki reads them: double-quoted with Go's escapes (`\"`,
//! `\\`, `\n`, `\t`, `\xHH`, octal `\NNN`, `\uHHHH`, `\UHHHHHHHH`, ...) or back-quoted raw text.
//! Names are `[a-zA-Z_][a-zA-Z0-9_]*`; only the `=` matcher is meaningful in a push.

use std::fmt;

/// Why a label string could not be read; `offset` is the byte where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{issue} at byte {offset}")]
pub struct LabelStringError {
    pub offset: usize,
    pub issue: LabelStringIssue,
}

/// What was wrong in a label string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelStringIssue {
    /// The string does not start with `{`.
    ExpectedOpenBrace,
    /// A label name was expected (`[a-zA-Z_][a-zA-Z0-9_]*`).
    ExpectedName,
    /// `=` was expected after a label name.
    ExpectedEquals,
    /// A `!=`, `=~` or `!~` matcher, which cannot name a stream.
    NotEqualityMatcher,
    /// A value must be a `"..."` or `` `...` `` literal.
    ExpectedQuote,
    /// The input ended inside a quoted value.
    UnterminatedValue,
    /// An unknown or malformed backslash escape.
    BadEscape,
    /// Escapes produced bytes that are not UTF-8.
    ValueNotUtf8,
    /// `,` or `}` was expected after a value.
    ExpectedCommaOrBrace,
    /// Text after the closing `}`.
    TrailingInput,
}

impl fmt::Display for LabelStringIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelStringIssue::ExpectedOpenBrace => "expected '{'",
            LabelStringIssue::ExpectedName => "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
            LabelStringIssue::ExpectedEquals => "expected '=' after the label name",
            LabelStringIssue::NotEqualityMatcher => {
                "only '=' can name a stream ('!=', '=~' and '!~' cannot)"
            }
            LabelStringIssue::ExpectedQuote => "expected a quoted value (\"...\" or `...`)",
            LabelStringIssue::UnterminatedValue => "unterminated quoted value",
            LabelStringIssue::BadEscape => "invalid escape sequence",
            LabelStringIssue::ValueNotUtf8 => "escaped value is not valid UTF-8",
            LabelStringIssue::ExpectedCommaOrBrace => "expected ',' or '}' after the value",
            LabelStringIssue::TrailingInput => "unexpected text after '}'",
        })
    }
}

/// Parses a LogQL label string such as `{app="api", pod="api-7d9\"x"}` into its pairs, in the
/// order written. `{}` gives no pairs; duplicates are left for the caller to judge.
pub fn parse_label_string(text: &str) -> Result<Vec<(String, String)>, LabelStringError> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut pairs = Vec::new();
    cursor.skip_space();
    if !cursor.eat(b'{') {
        return Err(cursor.fail(LabelStringIssue::ExpectedOpenBrace));
    }
    cursor.skip_space();
    if !cursor.eat(b'}') {
        loop {
            let name = cursor.name()?;
            cursor.skip_space();
            cursor.equals()?;
            cursor.skip_space();
            let value = cursor.value()?;
            pairs.push((name.to_owned(), value));
            cursor.skip_space();
            if cursor.eat(b',') {
                cursor.skip_space();
                continue;
            }
            if cursor.eat(b'}') {
                break;
            }
            return Err(cursor.fail(LabelStringIssue::ExpectedCommaOrBrace));
        }
    }
    cursor.skip_space();
    if cursor.pos != cursor.bytes.len() {
        return Err(cursor.fail(LabelStringIssue::TrailingInput));
    }
    Ok(pairs)
}

/// Whether `name` is a valid LogQL label name.
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Appends `value` to `out` as a double-quoted LogQL string literal that reads back as exactly
/// `value`: quotes and backslashes escaped, control characters written as escapes.
pub fn write_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = if u32::from(c) <= 0xffff {
                    write!(out, "\\u{:04x}", u32::from(c))
                } else {
                    write!(out, "\\U{:08x}", u32::from(c))
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as a double-quoted LogQL string literal (see [`write_quoted`]).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    write_quoted(&mut out, value);
    out
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn fail(&self, issue: LabelStringIssue) -> LabelStringError {
        LabelStringError {
            offset: self.pos,
            issue,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn name(&mut self) -> Result<&'a str, LabelStringError> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.pos += 1,
            _ => return Err(self.fail(LabelStringIssue::ExpectedName)),
        }
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        // ASCII only, so always UTF-8.
        std::str::from_utf8(&self.bytes[start..self.pos])
            .map_err(|_| self.fail(LabelStringIssue::ExpectedName))
    }

    fn equals(&mut self) -> Result<(), LabelStringError> {
        match self.peek() {
            Some(b'=') => {
                if self.bytes.get(self.pos + 1) == Some(&b'~') {
                    return Err(self.fail(LabelStringIssue::NotEqualityMatcher));
                }
                self.pos += 1;
                Ok(())
            }
            Some(b'!') => Err(self.fail(LabelStringIssue::NotEqualityMatcher)),
            _ => Err(self.fail(LabelStringIssue::ExpectedEquals)),
        }
    }

    fn value(&mut self) -> Result<String, LabelStringError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.escaped()
            }
            Some(b'`') => {
                self.pos += 1;
                let start = self.pos;
                let Some(len) = self.bytes[start..].iter().position(|&b| b == b'`') else {
                    self.pos = self.bytes.len();
                    return Err(self.fail(LabelStringIssue::UnterminatedValue));
                };
                self.pos = start + len + 1;
                // Back-quotes are ASCII, so the slice sits on character boundaries.
                String::from_utf8(self.bytes[start..start + len].to_vec())
                    .map_err(|_| self.fail(LabelStringIssue::ValueNotUtf8))
            }
            _ => Err(self.fail(LabelStringIssue::ExpectedQuote)),
        }
    }

    /// Reads a double-quoted value after its opening quote, through the closing quote.
    fn escaped(&mut self) -> Result<String, LabelStringError> {
        let start = self.pos;
        let mut out = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.fail(LabelStringIssue::UnterminatedValue));
            };
            match byte {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| LabelStringError {
                        offset: start,
                        issue: LabelStringIssue::ValueNotUtf8,
                    });
                }
                b'\\' => {
                    let at = self.pos;
                    self.pos += 1;
                    self.escape(&mut out)
                        .map_err(|issue| LabelStringError { offset: at, issue })?;
                }
                other => {
                    out.push(other);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads one escape after its backslash, appending what it stands for.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), LabelStringIssue> {
        let Some(kind) = self.peek() else {
            return Err(LabelStringIssue::UnterminatedValue);
        };
        self.pos += 1;
        let simple = match kind {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            return Ok(());
        }
        match kind {
            b'x' => {
                let byte = self.number(2, 16)?;
                out.push(u8::try_from(byte).map_err(|_| LabelStringIssue::BadEscape)?);
            }
            b'0'..=b'7' => {
                self.pos -= 1;
                let byte = self.number(3, 8)?;
                out.push(u8::try_from(byte).map_err(|_| LabelStringIssue::BadEscape)?);
            }
            b'u' | b'U' => {
                let digits = if kind == b'u' { 4 } else { 8 };
                let code = self.number(digits, 16)?;
                let c = char::from_u32(code).ok_or(LabelStringIssue::BadEscape)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(LabelStringIssue::BadEscape),
        }
        Ok(())
    }

    /// Reads exactly `digits` digits in `radix`.
    fn number(&mut self, digits: usize, radix: u32) -> Result<u32, LabelStringIssue> {
        let mut value: u32 = 0;
        for _ in 0..digits {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(radix))
                .ok_or(LabelStringIssue::BadEscape)?;
            value = value
                .checked_mul(radix)
                .and_then(|v| v.checked_add(digit))
                .ok_or(LabelStringIssue::BadEscape)?;
            self.pos += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_label_string(text).unwrap()
    }

    fn issue(text: &str) -> (usize, LabelStringIssue) {
        let e = parse_label_string(text).unwrap_err();
        (e.offset, e.issue)
    }

    #[test]
    fn reads_plain_spaced_and_empty_strings() {
        assert_eq!(
            pairs(r#"{app="api", pod="api-1"}"#),
            [("app".into(), "api".into()), ("pod".into(), "api-1".into())]
        );
        assert_eq!(
            pairs(" {\n a = \"x\" ,b=`raw \\n`\t} "),
            [("a".into(), "x".into()), ("b".into(), "raw \\n".into())]
        );
        assert!(pairs("{}").is_empty());
    }

    #[test]
    fn reads_go_escapes() {
        assert_eq!(
            pairs(r#"{a="q\"b\\s\n\t\x41\101\u00e9\U0001F600"}"#),
            [("a".into(), "q\"b\\s\n\tAAé😀".into())]
        );
        assert_eq!(pairs("{a=\"é\"}"), [("a".into(), "é".into())]);
        // Two escaped bytes that together are one UTF-8 character.
        assert_eq!(pairs(r#"{a="\xc3\xa9"}"#), [("a".into(), "é".into())]);
    }

    #[test]
    fn names_each_problem_and_where() {
        use LabelStringIssue as I;
        assert_eq!(issue(r#"app="x""#), (0, I::ExpectedOpenBrace));
        assert_eq!(issue(r#"{1app="x"}"#), (1, I::ExpectedName));
        assert_eq!(issue(r#"{app:"x"}"#), (4, I::ExpectedEquals));
        assert_eq!(issue(r#"{app=~"x"}"#), (4, I::NotEqualityMatcher));
        assert_eq!(issue(r#"{app!="x"}"#), (4, I::NotEqualityMatcher));
        assert_eq!(issue(r#"{app=x}"#), (5, I::ExpectedQuote));
        assert_eq!(issue(r#"{app="x}"#), (8, I::UnterminatedValue));
        assert_eq!(issue("{app=`x}"), (8, I::UnterminatedValue));
        assert_eq!(issue(r#"{app="\q"}"#), (6, I::BadEscape));
        assert_eq!(issue(r#"{app="\x4"}"#), (6, I::BadEscape));
        assert_eq!(issue(r#"{app="\777"}"#), (6, I::BadEscape));
        assert_eq!(issue(r#"{app="\ud800"}"#), (6, I::BadEscape));
        assert_eq!(issue(r#"{app="\xff"}"#), (6, I::ValueNotUtf8));
        assert_eq!(issue(r#"{app="x" pod="y"}"#), (9, I::ExpectedCommaOrBrace));
        assert_eq!(issue(r#"{app="x",}"#), (9, I::ExpectedName));
        assert_eq!(issue(r#"{app="x"} x"#), (10, I::TrailingInput));
        assert_eq!(issue(r#"{app="x""#), (8, I::ExpectedCommaOrBrace));
        assert_eq!(issue(""), (0, I::ExpectedOpenBrace));
        assert_eq!(
            parse_label_string(r#"{a="\z"}"#).unwrap_err().to_string(),
            "invalid escape sequence at byte 4"
        );
    }

    #[test]
    fn label_names() {
        assert!(is_label_name("_a1"));
        assert!(is_label_name("app"));
        assert!(!is_label_name(""));
        assert!(!is_label_name("1a"));
        assert!(!is_label_name("a-b"));
        assert!(!is_label_name("a.b"));
    }

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(quote("\u{1}é"), "\"\\u0001é\"");
    }

    proptest! {
        #[test]
        fn quoting_round_trips(names in proptest::collection::vec("[a-zA-Z_][a-zA-Z0-9_]{0,8}", 1..4),
                               values in proptest::collection::vec(any::<String>(), 4)) {
            let mut text = String::from("{");
            let mut expected = Vec::new();
            for (i, (name, value)) in names.iter().zip(&values).enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(name);
                text.push('=');
                write_quoted(&mut text, value);
                expected.push((name.clone(), value.clone()));
            }
            text.push('}');
            prop_assert_eq!(parse_label_string(&text).unwrap(), expected);
        }

        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = parse_label_string(&text);
        }

        #[test]
        fn never_panics_on_selector_like_text(text in r#"\{[a-z_ =,"`\\xu0-9!~}]{0,40}"#) {
            let _ = parse_label_string(&text);
        }
    }
}
