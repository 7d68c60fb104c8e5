//! Root-cause evaluation on the labelled fault scenarios: each recording through the rule
//! detectors and the correlator, a draft per incident, and the ranking scored against the label.
//!
//! [`draft_input`] is how the live server turns a ledger incident into the draft's input, so the
//! evaluation measures the very draft `GET /api/v1/incidents/{id}/rca` serves.

use crate::replay::{correlate_with_findings, replay};
use crate::scenarios::{Fault, generate};
pub use app::draft_input;
use incident::{Finding, Incident};
use rca::{Draft, Drafter};
use serde::Serialize;
use windows::Store;

/// One fault scenario's line.
#[derive(Debug, Clone, Serialize)]
pub struct RcaLine {
    pub scenario: String,
    pub expected: String,
    /// `type on target` of the ranked root causes, best first.
    pub ranked: Vec<String>,
    /// 1-based rank of the right cause on the right target.
    pub rank: Option<usize>,
    pub citations: usize,
    pub unresolved: usize,
    /// The top draft's leading hypothesis (`cause`), for reading.
    pub top_hypothesis: Option<String>,
}

/// Top-1 / top-3 accuracy and the share of citations that resolve.
#[derive(Debug, Clone, Serialize)]
pub struct RcaReport {
    pub cases: usize,
    pub top1: f64,
    pub top3: f64,
    pub citations: usize,
    pub citations_resolved: f64,
    pub lines: Vec<RcaLine>,
}

impl RcaReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<26} {:<40} {:>5} {:>10}  {}\n",
            "scenario", "expected", "rank", "citations", "ranked causes (best first)"
        );
        for l in &self.lines {
            out.push_str(&format!(
                "{:<26} {:<40} {:>5} {:>6}/{:<3}  {}\n",
                l.scenario,
                l.expected,
                l.rank.map_or("-".to_owned(), |r| r.to_string()),
                l.citations - l.unresolved,
                l.citations,
                l.ranked.join(" | ")
            ));
        }
        out.push_str(&format!(
            "{} fault scenarios: top-1 {:.2}, top-3 {:.2}; {:.1}% of {} citations resolve\n",
            self.cases,
            self.top1,
            self.top3,
            self.citations_resolved * 100.0,
            self.citations
        ));
        out
    }

    /// `{"cases":N,"top1":X,"top3":X,"citations_resolved":X}`.
    pub fn json_line(&self) -> String {
        serde_json::json!({
            "cases": self.cases,
            "top1": self.top1,
            "top3": self.top3,
            "citations_resolved": self.citations_resolved,
        })
        .to_string()
    }
}

/// Ranks a scenario's incidents as root causes: severity first, then the confidence of their
/// strongest finding, then the earliest opened. Each comes with its draft.
pub fn rank_incidents(standing: Vec<(Incident, Vec<Finding>)>) -> Vec<(Incident, Draft)> {
    let drafter = Drafter::default();
    let mut ranked: Vec<(Incident, f64, Draft)> = standing
        .into_iter()
        .map(|(incident, findings)| {
            let confidence = findings.iter().map(|f| f.confidence).fold(0.0, f64::max);
            let draft = drafter.draft(&draft_input(&incident, &findings));
            (incident, confidence, draft)
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.severity
            .cmp(&a.0.severity)
            .then(b.1.total_cmp(&a.1))
            .then(a.0.opened_at_ms.cmp(&b.0.opened_at_ms))
    });
    ranked.into_iter().map(|(i, _, d)| (i, d)).collect()
}

/// Every fault scenario (healthy ones have no root cause) through detectors, correlator and
/// drafts.
pub fn evaluate(seed: u64) -> RcaReport {
    let mut lines = Vec::new();
    for fault in Fault::ALL {
        let scenario = generate(fault, seed);
        let Some(expected) = scenario.meta.expected.first() else {
            continue;
        };
        let store = Store::new(windows::StoreConfig {
            lateness_ms: 15_000,
            ..windows::StoreConfig::default()
        });
        let mut detector =
            detect::Detector::new(detect::builtin_rules(), detect::Environment::Prod);
        let outcome = replay(&scenario, &store, &mut detector, 60_000);
        let ranked = rank_incidents(correlate_with_findings(&outcome.candidates));
        let rank = ranked
            .iter()
            .position(|(i, _)| {
                i.incident_type == expected.incident_type && i.target.name == expected.target
            })
            .map(|p| p + 1);
        let (mut citations, mut unresolved) = (0, 0);
        for (_, draft) in &ranked {
            let (u, t) = draft.citation_counts();
            citations += t;
            unresolved += u;
        }
        lines.push(RcaLine {
            scenario: scenario.meta.name.clone(),
            expected: format!("{} on {}", expected.incident_type.as_str(), expected.target),
            ranked: ranked
                .iter()
                .map(|(i, _)| format!("{} on {}", i.incident_type.as_str(), i.target.name))
                .collect(),
            rank,
            citations,
            unresolved,
            top_hypothesis: ranked
                .first()
                .and_then(|(_, d)| d.root_causes.first())
                .map(|h| h.cause.clone()),
        });
    }
    let cases = lines.len();
    let share = |pass: usize| {
        if cases == 0 {
            0.0
        } else {
            pass as f64 / cases as f64
        }
    };
    let top1 = share(lines.iter().filter(|l| l.rank == Some(1)).count());
    let top3 = share(
        lines
            .iter()
            .filter(|l| l.rank.is_some_and(|r| r <= 3))
            .count(),
    );
    let citations: usize = lines.iter().map(|l| l.citations).sum();
    let unresolved: usize = lines.iter().map(|l| l.unresolved).sum();
    RcaReport {
        cases,
        top1,
        top3,
        citations,
        citations_resolved: if citations == 0 {
            0.0
        } else {
            (citations - unresolved) as f64 / citations as f64
        },
        lines,
    }
}
