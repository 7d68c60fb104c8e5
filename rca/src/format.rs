//! Log header formats: a `<Field>` template (as Loghub writes them, e.g.
//! `<Date> <Time> <Level> <Component>: <Content>`) compiled once to split raw lines.
//!
//! The format is a regular expression; lines are split by [`crate::header`]'s small
//! backtracking matcher when the format fits its subset (every Loghub format does), with the
//! full regex as the reference and fallback.

use regex::Regex;

use crate::error::RcaError;
use crate::header::{Outcome, Program};

/// Capture slots kept on the stack; formats with more fields use the regex.
const MAX_SLOTS: usize = 32;

/// A compiled header format; `<Content>` is the message the miner reads.
#[derive(Debug, Clone)]
pub struct LogFormat {
    source: String,
    regex: Regex,
    fields: Vec<String>,
    /// The fast matcher, when the format fits its subset.
    program: Option<Program>,
    /// Position of `Content` in `fields`.
    content: usize,
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
        let Some(content) = fields.iter().position(|f| f == "Content") else {
            return Err(RcaError::FormatWithoutContent {
                format: format.to_owned(),
            });
        };
        let regex = Regex::new(&pattern).map_err(|source| RcaError::Format {
            format: format.to_owned(),
            source,
        })?;
        let program = Program::compile(format)
            .filter(|(p, names)| *names == fields && p.slot_count() <= MAX_SLOTS)
            .map(|(p, _)| p);
        Ok(Self {
            source: format.to_owned(),
            regex,
            fields,
            program,
            content,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Field names in order of appearance.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The regular expression the format compiles to (`^…$`, one named group per field).
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The `<Content>` of a raw line (trailing CR/LF ignored), or `None` if the header does not match.
    pub fn content<'a>(&self, line: &'a str) -> Option<&'a str> {
        self.field_at(line, self.content)
    }

    /// A named field of a raw line.
    pub fn field<'a>(&self, line: &'a str, name: &str) -> Option<&'a str> {
        let k = self.fields.iter().position(|f| f == name)?;
        self.field_at(line, k)
    }

    /// Field `k` of a raw line.
    fn field_at<'a>(&self, line: &'a str, k: usize) -> Option<&'a str> {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(program) = &self.program {
            let mut slots = [None; MAX_SLOTS];
            let slots = &mut slots[..program.slot_count()];
            match program.run(line, slots) {
                Outcome::Match => {
                    let start = slots.get(2 * k).copied().flatten();
                    let end = slots.get(2 * k + 1).copied().flatten();
                    return line.get(start?..end?);
                }
                Outcome::NoMatch => return None,
                // The regex decides; its automata reject a non-matching line before any
                // capture engine runs.
                Outcome::Undecided => {}
            }
        }
        self.regex
            .captures(line)
            .and_then(|c| c.name(self.fields.get(k)?))
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

    /// Formats the fast matcher must split exactly as the regex does.
    const FORMATS: [&str; 9] = [
        "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
        r"\[<Time>\] \[<Level>\] <Content>",
        r"<Time>\|<Component>\|<Pid>\|<Content>",
        r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
        r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \([\w\.]+\))?: <Content>",
        r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        "<Date> <Time>, <Level>                  <Component>    <Content>",
        r"<A>[a-c_]*:\d+ <Content> <B>",
        r"(?:x|<A>)? <Content>",
    ];

    fn regex_field<'a>(f: &LogFormat, line: &'a str, name: &str) -> Option<&'a str> {
        let line = line.trim_end_matches(['\r', '\n']);
        f.regex()
            .captures(line)
            .and_then(|c| c.name(name))
            .map(|m| m.as_str())
    }

    #[test]
    fn loghub_formats_use_the_fast_matcher() {
        for format in &FORMATS[..7] {
            assert!(
                LogFormat::new(format).unwrap().program.is_some(),
                "{format}"
            );
        }
        // Alternation is outside the subset: the regex answers alone.
        assert!(LogFormat::new(FORMATS[8]).unwrap().program.is_none());
    }

    #[test]
    fn fast_matcher_agrees_on_real_headers() {
        let f = LogFormat::new(FORMATS[4]).unwrap();
        let line = "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt HPD packet for route = 0x0 port = 11 unplug = 0";
        assert_eq!(f.field(line, "Component"), Some("kernel"));
        assert_eq!(f.content(line), regex_field(&f, line, "Content"));
        let line = "Jul  1 09:01:05 calvisitor-10-105-160-95 com.apple.CDScheduler[43]: Thermal pressure state: 1 Memory pressure state: 0";
        assert_eq!(
            f.content(line),
            Some("Thermal pressure state: 1 Memory pressure state: 0")
        );
        let line = "Jul  1 09:04:33 authorMacBook-Pro corecaptured[5 8]: x";
        assert_eq!(f.content(line), regex_field(&f, line, "Content"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn fast_matcher_splits_like_the_regex(
            which in 0usize..FORMATS.len(),
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    " ", "  ", "\t", "[", "]", "(", ")", ": ", ":", "-", " - ", "|", ",", ".",
                    "a", "Zq", "17", "_", "@", "é", "\n", "\r", "x", "b:3 ", " (ab.c)",
                    "\u{a0}", "\u{2003}", "\u{1f600}",
                ]),
                0..40,
            ),
        ) {
            let f = LogFormat::new(FORMATS[which]).unwrap();
            let line: String = pieces.concat();
            for name in f.fields() {
                proptest::prop_assert_eq!(
                    f.field(&line, name),
                    regex_field(&f, &line, name),
                    "format {} line {:?} field {}", FORMATS[which], line, name
                );
            }
        }
    }
}
