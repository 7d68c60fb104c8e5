//! Log context for an incident: de-noise lines, collapse them into templates with counts and
//! time spans, rank by novelty and level, and cut into chunks that fit a token budget.
//!
//! A baseline (lines from before the incident) teaches which templates are usual; templates
//! unseen there rank as novel. Output is deterministic for the same input order.

use std::collections::{BTreeMap, HashMap};

use model::{EventEvidence, LabelSet};
use regex::RegexSet;
use serde::{Deserialize, Serialize};

use crate::error::RcaError;
use crate::miner::{MinerConfig, TemplateId, TemplateMiner};
use crate::patterns::PatternLibrary;

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Event time, Unix milliseconds.
    pub at_ms: i64,
    /// Stream labels (namespace, pod, container, ...).
    #[serde(default)]
    pub labels: LabelSet,
    pub message: String,
}

impl LogLine {
    pub fn new(at_ms: i64, labels: LabelSet, message: impl Into<String>) -> Self {
        Self {
            at_ms,
            labels,
            message: message.into(),
        }
    }

    /// Level from a `level`/`severity` label, else from words in the message.
    pub fn level(&self) -> Level {
        let label = self
            .labels
            .get("level")
            .or_else(|| self.labels.get("severity"));
        label
            .and_then(Level::from_word)
            .unwrap_or_else(|| Level::infer(&self.message))
    }
}

/// Severity of a log line, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Parses a level word (`ERROR`, `warning`, `crit`, ...).
    pub fn from_word(word: &str) -> Option<Self> {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphabetic());
        Some(match w.to_ascii_lowercase().as_str() {
            "trace" | "debug" | "dbg" => Level::Debug,
            "info" | "notice" | "information" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "severe" | "failed" | "failure" | "exception" => Level::Error,
            "fatal" | "crit" | "critical" | "panic" | "emerg" | "alert" => Level::Fatal,
            _ => return None,
        })
    }

    /// The highest level word among the message's first words, else `Info`.
    pub fn infer(message: &str) -> Self {
        message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(40)
            .filter_map(Level::from_word)
            .max()
            .unwrap_or(Level::Info)
    }

    fn weight(self) -> f64 {
        match self {
            Level::Debug => 0.0,
            Level::Info => 0.5,
            Level::Warn => 1.5,
            Level::Error => 3.0,
            Level::Fatal => 4.0,
        }
    }
}

/// Configuration of the log context extractor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// Case-insensitive regexes of chatter to drop (health checks, probes, ...).
    pub noise: Vec<String>,
    /// Upper bound on the estimated tokens of all chunks together.
    pub token_budget: usize,
    /// Template miner settings.
    pub miner: MinerConfig,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            noise: DEFAULT_NOISE.iter().map(|s| (*s).to_owned()).collect(),
            token_budget: 2_000,
            miner: MinerConfig::default(),
        }
    }
}

/// Health checks, probes, metrics scrapes and readiness chatter.
const DEFAULT_NOISE: &[&str] = &[
    r"\b(GET|HEAD) /(healthz?|readyz|livez|ready|live|ping|metrics|status)\b",
    r"kube-probe/",
    r"\bhealth[ _-]?check",
    r"\b(liveness|readiness|startup) probe (succeeded|passed|ok)",
    r"ELB-HealthChecker|GoogleHC|Prometheus/\d",
];

/// Lines that collapsed into one template within one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollapsedEntry {
    pub template_id: TemplateId,
    pub template: String,
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The first line seen verbatim.
    pub example: String,
    /// Highest level among the lines.
    pub level: Level,
    /// True when the baseline never produced this template.
    pub novel: bool,
    /// Rank score: level, novelty and (weakly) volume.
    pub score: f64,
    /// Known failure signature names the lines matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
}

/// Entries of one stream that fit the budget, with the stream's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextChunk {
    pub labels: LabelSet,
    pub start_ms: i64,
    pub end_ms: i64,
    pub entries: Vec<CollapsedEntry>,
    /// Estimated tokens of this chunk (labels line plus entries).
    pub tokens: usize,
}

/// The de-noised, collapsed and budgeted log context of an incident window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogContext {
    pub chunks: Vec<ContextChunk>,
    pub total_lines: u64,
    pub noise_lines: u64,
    /// Entries left out because the budget was spent.
    pub omitted_entries: usize,
    pub tokens: usize,
    /// Evidence for lines matching known failure signatures (first line per signature and stream).
    pub evidence: Vec<EventEvidence>,
}

/// Token estimate for text handed to a language model: about four characters per token.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4) + 1
}

#[derive(Debug)]
struct Acc {
    template_id: TemplateId,
    count: u64,
    first_ms: i64,
    last_ms: i64,
    example: String,
    level: Level,
    signatures: Vec<String>,
}

/// Builds a [`LogContext`] from a baseline and the incident window's lines.
#[derive(Debug)]
pub struct LogContextBuilder {
    config: ContextConfig,
    noise: RegexSet,
    miner: TemplateMiner,
    patterns: PatternLibrary,
    baseline: HashMap<TemplateId, u64>,
    streams: BTreeMap<LabelSet, Vec<Acc>>,
    evidence: Vec<EventEvidence>,
    total: u64,
    noise_lines: u64,
}

impl LogContextBuilder {
    pub fn new(config: ContextConfig, patterns: PatternLibrary) -> Result<Self, RcaError> {
        let noise =
            RegexSet::new(config.noise.iter().map(|p| format!("(?i){p}"))).map_err(|source| {
                RcaError::Pattern {
                    name: "noise".to_owned(),
                    source,
                }
            })?;
        let miner = TemplateMiner::new(config.miner.clone());
        Ok(Self {
            config,
            noise,
            miner,
            patterns,
            baseline: HashMap::new(),
            streams: BTreeMap::new(),
            evidence: Vec::new(),
            total: 0,
            noise_lines: 0,
        })
    }

    /// Whether a message is configured chatter.
    pub fn is_noise(&self, message: &str) -> bool {
        self.noise.is_match(message)
    }

    /// Learns a line from before the incident (what is usual).
    pub fn baseline(&mut self, line: &LogLine) {
        if self.is_noise(&line.message) {
            return;
        }
        let id = self.miner.add(&line.message);
        *self.baseline.entry(id).or_default() += 1;
    }

    /// Adds a line of the incident window.
    pub fn push(&mut self, line: &LogLine) {
        self.total += 1;
        if self.is_noise(&line.message) {
            self.noise_lines += 1;
            return;
        }
        let id = self.miner.add(&line.message);
        let level = line.level();
        let signatures: Vec<String> = self
            .patterns
            .matches(&line.message)
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        let stream = self.streams.entry(line.labels.clone()).or_default();
        let acc = match stream.iter_mut().position(|a| a.template_id == id) {
            Some(i) => &mut stream[i],
            None => {
                stream.push(Acc {
                    template_id: id,
                    count: 0,
                    first_ms: line.at_ms,
                    last_ms: line.at_ms,
                    example: line.message.clone(),
                    level,
                    signatures: Vec::new(),
                });
                let last = stream.len() - 1;
                &mut stream[last]
            }
        };
        acc.count += 1;
        acc.first_ms = acc.first_ms.min(line.at_ms);
        acc.last_ms = acc.last_ms.max(line.at_ms);
        acc.level = acc.level.max(level);
        for s in signatures {
            if !acc.signatures.contains(&s) {
                let n = self.evidence.len();
                if let Some(ev) = self.patterns.evidence(line, format!("log-{n}")) {
                    self.evidence.push(ev);
                }
                acc.signatures.push(s);
            }
        }
    }

    /// Collapses, ranks and budgets what was pushed.
    pub fn build(&self) -> LogContext {
        // Resolve template groups (ids may have been joined since) and merge entries per stream.
        let mut ranked: Vec<(LabelSet, CollapsedEntry)> = Vec::new();
        for (labels, accs) in &self.streams {
            let mut merged: BTreeMap<TemplateId, CollapsedEntry> = BTreeMap::new();
            for a in accs {
                let gid = self.miner.group(a.template_id);
                let novel = !self.baseline.keys().any(|b| self.miner.group(*b) == gid);
                let e = merged.entry(gid).or_insert_with(|| CollapsedEntry {
                    template_id: gid,
                    template: self.miner.template(gid).unwrap_or_default(),
                    count: 0,
                    first_ms: a.first_ms,
                    last_ms: a.last_ms,
                    example: a.example.clone(),
                    level: a.level,
                    novel,
                    score: 0.0,
                    signatures: Vec::new(),
                });
                e.count += a.count;
                e.first_ms = e.first_ms.min(a.first_ms);
                e.last_ms = e.last_ms.max(a.last_ms);
                e.level = e.level.max(a.level);
                for s in &a.signatures {
                    if !e.signatures.contains(s) {
                        e.signatures.push(s.clone());
                    }
                }
            }
            for mut e in merged.into_values() {
                e.score = e.level.weight()
                    + if e.novel { 3.0 } else { 0.0 }
                    + if e.signatures.is_empty() { 0.0 } else { 4.0 }
                    + 0.1 * (e.count as f64).ln_1p();
                ranked.push((labels.clone(), e));
            }
        }
        ranked.sort_by(|a, b| {
            b.1.score
                .total_cmp(&a.1.score)
                .then(a.1.first_ms.cmp(&b.1.first_ms))
                .then(a.0.cmp(&b.0))
        });

        let budget = self.config.token_budget;
        let mut used = 0usize;
        let mut omitted = 0usize;
        let mut chunks: BTreeMap<LabelSet, ContextChunk> = BTreeMap::new();
        for (labels, entry) in ranked {
            let entry_tokens = estimate_tokens(&entry.template) + estimate_tokens(&entry.example);
            let header = if chunks.contains_key(&labels) {
                0
            } else {
                estimate_tokens(&labels.to_string()) + 4
            };
            if used + header + entry_tokens > budget {
                omitted += 1;
                continue;
            }
            used += header + entry_tokens;
            let chunk = chunks
                .entry(labels.clone())
                .or_insert_with(|| ContextChunk {
                    labels,
                    start_ms: entry.first_ms,
                    end_ms: entry.last_ms,
                    entries: Vec::new(),
                    tokens: header,
                });
            chunk.start_ms = chunk.start_ms.min(entry.first_ms);
            chunk.end_ms = chunk.end_ms.max(entry.last_ms);
            chunk.tokens += entry_tokens;
            chunk.entries.push(entry);
        }
        let mut chunks: Vec<ContextChunk> = chunks.into_values().collect();
        chunks.sort_by(|a, b| {
            let best = |c: &ContextChunk| c.entries.first().map_or(0.0, |e| e.score);
            best(b).total_cmp(&best(a)).then(a.labels.cmp(&b.labels))
        });
        LogContext {
            chunks,
            total_lines: self.total,
            noise_lines: self.noise_lines,
            omitted_entries: omitted,
            tokens: used,
            evidence: self.evidence.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pod: &str) -> LabelSet {
        LabelSet::from_pairs([("namespace", "shop"), ("pod", pod)]).unwrap()
    }

    fn builder(budget: usize) -> LogContextBuilder {
        LogContextBuilder::new(
            ContextConfig {
                token_budget: budget,
                ..ContextConfig::default()
            },
            PatternLibrary::sre_default(),
        )
        .unwrap()
    }

    #[test]
    fn levels_are_inferred() {
        assert_eq!(Level::infer("ERROR failed to connect"), Level::Error);
        assert_eq!(Level::infer("request served in 3 ms"), Level::Info);
        assert_eq!(Level::infer("[warn] slow query"), Level::Warn);
        let l = LogLine::new(0, LabelSet::from_pairs([("level", "fatal")]).unwrap(), "x");
        assert_eq!(l.level(), Level::Fatal);
    }

    #[test]
    fn noise_is_dropped_and_duplicates_collapse() {
        let mut b = builder(10_000);
        for i in 0..5 {
            b.push(&LogLine::new(
                1_000 + i,
                labels("api-1"),
                "10.0.0.1 - - \"GET /healthz HTTP/1.1\" 200 kube-probe/1.29",
            ));
            b.push(&LogLine::new(
                1_000 + i,
                labels("api-1"),
                format!("order {i} placed for customer {}", 100 + i),
            ));
        }
        let ctx = b.build();
        assert_eq!(ctx.total_lines, 10);
        assert_eq!(ctx.noise_lines, 5);
        assert_eq!(ctx.chunks.len(), 1);
        let e = &ctx.chunks[0].entries;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].count, 5);
        assert_eq!(e[0].first_ms, 1_000);
        assert_eq!(e[0].last_ms, 1_004);
        assert_eq!(e[0].example, "order 0 placed for customer 100");
        assert_eq!(e[0].template, "order <*> placed for customer <*>");
        assert_eq!(
            (ctx.chunks[0].start_ms, ctx.chunks[0].end_ms),
            (1_000, 1_004)
        );
    }

    #[test]
    fn novel_errors_rank_first_and_yield_evidence() {
        let mut b = builder(10_000);
        for i in 0..20 {
            b.baseline(&LogLine::new(
                i,
                labels("api-1"),
                format!("served request {i} in {i} ms"),
            ));
        }
        b.push(&LogLine::new(
            100,
            labels("api-1"),
            "served request 7 in 9 ms",
        ));
        b.push(&LogLine::new(
            101,
            labels("api-2"),
            "ERROR dial tcp 10.0.0.9:5432: connect: connection refused",
        ));
        let ctx = b.build();
        let first = &ctx.chunks[0].entries[0];
        assert!(first.novel);
        assert_eq!(first.level, Level::Error);
        assert_eq!(first.signatures, vec!["dependency_connection_refused"]);
        assert_eq!(ctx.chunks[0].labels, labels("api-2"));
        let usual = &ctx.chunks[1].entries[0];
        assert!(!usual.novel);
        assert_eq!(ctx.evidence.len(), 1);
        assert_eq!(ctx.evidence[0].labels, labels("api-2"));
    }

    #[test]
    fn budget_bounds_the_context() {
        let mut b = builder(60);
        for i in 0..30 {
            b.push(&LogLine::new(
                i,
                labels(&format!("pod-{i}")),
                format!(
                    "distinct message kind{} happened here",
                    char::from(b'a' + (i % 26) as u8)
                ),
            ));
        }
        let ctx = b.build();
        assert!(ctx.tokens <= 60, "{}", ctx.tokens);
        let sum: usize = ctx.chunks.iter().map(|c| c.tokens).sum();
        assert_eq!(sum, ctx.tokens);
        assert!(ctx.omitted_entries > 0);
        let kept: usize = ctx.chunks.iter().map(|c| c.entries.len()).sum();
        assert_eq!(kept + ctx.omitted_entries, 30);
    }
}
