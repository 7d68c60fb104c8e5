//! Log header formats: a `<Field>` template (as Loghub writes them, e.g.
//! `<Date> <Time> <Level> <Component>: <Content>`) compiled once to split raw lines.

use regex::Regex;

use crate::error::RcaError;

/// A compiled header format; `<Content>` is the message the miner reads.
#[derive(Debug, Clone)]
pub struct LogFormat {
    source: String,
    regex: Regex,
    fields: Vec<String>,
}

impl LogFormat {
    /// Compiles a format. Text outside `<Field>` placeholders is a regular expression where a
    /// run of spaces matches any run of whitespace; each field matches lazily.
    pub fn new(format: &str) -> Result<Self, RcaError> {
        let mut pattern = String::from("^");
        let mut fields = Vec::new();
        let mut rest = format;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                break;
            };
            push_literal(&mut pattern, &rest[..open]);
            let name = &rest[open + 1..open + close];
            pattern.push_str(&format!("(?P<{name}>.*?)"));
            fields.push(name.to_owned());
            rest = &rest[open + close + 1..];
        }
        push_literal(&mut pattern, rest);
        pattern.push('$');
        if !fields.iter().any(|f| f == "Content") {
            return Err(RcaError::FormatWithoutContent {
                format: format.to_owned(),
            });
        }
        let regex = Regex::new(&pattern).map_err(|source| RcaError::Format {
            format: format.to_owned(),
            source,
        })?;
        Ok(Self {
            source: format.to_owned(),
            regex,
            fields,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Field names in order of appearance.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The `<Content>` of a raw line (trailing CR/LF ignored), or `None` if the header does not match.
    pub fn content<'a>(&self, line: &'a str) -> Option<&'a str> {
        let line = line.trim_end_matches(['\r', '\n']);
        self.regex
            .captures(line)
            .and_then(|c| c.name("Content"))
            .map(|m| m.as_str())
    }

    /// A named field of a raw line.
    pub fn field<'a>(&self, line: &'a str, name: &str) -> Option<&'a str> {
        let line = line.trim_end_matches(['\r', '\n']);
        self.regex
            .captures(line)
            .and_then(|c| c.name(name))
            .map(|m| m.as_str())
    }
}

fn push_literal(pattern: &mut String, literal: &str) {
    let mut in_space = false;
    for c in literal.chars() {
        if c == ' ' {
            if !in_space {
                pattern.push_str(r"\s+");
            }
            in_space = true;
        } else {
            pattern.push(c);
            in_space = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_hdfs_header() {
        let f = LogFormat::new("<Date> <Time> <Pid> <Level> <Component>: <Content>").unwrap();
        let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\r\n";
        assert_eq!(
            f.content(line),
            Some("PacketResponder 1 for block blk_38865049064139660 terminating")
        );
        assert_eq!(f.field(line, "Level"), Some("INFO"));
    }

    #[test]
    fn optional_groups_and_escapes() {
        let f = LogFormat::new(r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>")
            .unwrap();
        assert_eq!(
            f.content("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure"),
            Some("authentication failure")
        );
        assert_eq!(f.content("Jun 14 15:16:01 combo kernel: x"), Some("x"));
    }

    #[test]
    fn format_without_content_is_refused() {
        assert!(matches!(
            LogFormat::new("<Date> <Time>"),
            Err(RcaError::FormatWithoutContent { .. })
        ));
    }
}
