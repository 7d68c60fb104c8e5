//! Answers to chat commands in plain sentences, from the deterministic layer's reports.

use crate::event::IncidentBrief;
use crate::operator::{EvidenceReport, StatusReport, Story, Summary, WhyReport};
use crate::render::{approval_line, clock, headline};
use model::StatementKind;

fn incident_line(i: &IncidentBrief) -> String {
    format!(
        "{} — {} {} ({}), opened {}.",
        i.id,
        i.severity.as_str(),
        headline(i),
        i.status,
        clock(i.opened_at_ms)
    )
}

pub fn status(r: &StatusReport) -> String {
    let mut out = vec![if r.paused {
        format!(
            "The robot is paused{}: no automatic action runs; approvals still work.",
            r.paused_by
                .as_ref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        )
    } else {
        "The robot is running: automatic actions allowed by policy run on their own.".to_owned()
    }];
    match r.open.len() {
        0 => out.push("No incident is open.".to_owned()),
        n => {
            out.push(format!(
                "{n} incident{} open:",
                if n == 1 { " is" } else { "s are" }
            ));
            out.extend(
                r.open
                    .iter()
                    .take(10)
                    .map(|i| format!("• {}", incident_line(i))),
            );
        }
    }
    match r.pending.len() {
        0 => out.push("No approval is waiting.".to_owned()),
        n => {
            out.push(format!(
                "{n} approval{} waiting:",
                if n == 1 { " is" } else { "s are" }
            ));
            out.extend(
                r.pending
                    .iter()
                    .take(10)
                    .map(|a| format!("• {}", approval_line(a))),
            );
        }
    }
    out.join("\n")
}

pub fn recent(list: &[IncidentBrief]) -> String {
    if list.is_empty() {
        return "Nothing has happened: no incident is recorded.".to_owned();
    }
    let mut out = vec!["Latest incidents (say \"what happened <id>\" for one):".to_owned()];
    out.extend(list.iter().map(|i| format!("• {}", incident_line(i))));
    out.join("\n")
}

pub fn story(s: &Story) -> String {
    let i = &s.incident;
    let mut out = vec![
        format!("{} ({}, {}).", headline(i), i.severity.as_str(), i.status),
        i.summary.clone(),
    ];
    if !s.timeline.is_empty() {
        out.push("Timeline:".to_owned());
        out.extend(
            s.timeline
                .iter()
                .rev()
                .take(12)
                .rev()
                .map(|(at, text)| format!("• {} {text}", clock(*at))),
        );
    }
    if s.actions.is_empty() {
        out.push("No action was taken.".to_owned());
    } else {
        out.push("Actions:".to_owned());
        out.extend(s.actions.iter().map(|a| format!("• {a}")));
    }
    out.join("\n")
}

pub fn evidence(r: &EvidenceReport) -> String {
    let mut out = vec![format!(
        "Evidence for {} ({}):",
        r.incident.id,
        headline(&r.incident)
    )];
    if r.items.is_empty() {
        out.push("No evidence is recorded.".to_owned());
    }
    out.extend(
        r.items
            .iter()
            .take(15)
            .map(|(id, text)| format!("• {}: [{id}] {text}", StatementKind::Observation.label())),
    );
    if r.items.len() > 15 {
        out.push(format!(
            "… and {} more in the workspace.",
            r.items.len() - 15
        ));
    }
    out.join("\n")
}

pub fn why(r: &WhyReport) -> String {
    let mut out = vec![format!(
        "{}: I proposed {} on {} for incident {} ({}).",
        StatementKind::Recommendation.label(),
        r.action,
        r.target,
        r.incident.id,
        headline(&r.incident)
    )];
    out.push(format!(
        "{} (trigger): {}",
        StatementKind::Observation.label(),
        r.incident.summary
    ));
    if !r.evidence.is_empty() {
        let cited: Vec<String> = r
            .evidence
            .iter()
            .take(6)
            .map(|(id, text)| {
                if text.is_empty() {
                    id.clone()
                } else {
                    format!("[{id}] {text}")
                }
            })
            .collect();
        out.push(format!(
            "{} (evidence): {}",
            StatementKind::Observation.label(),
            cited.join("; ")
        ));
    }
    out.push(format!(
        "Policy: clause {} decided {} ({}).",
        r.clause, r.verdict, r.reason
    ));
    if let Some(by) = &r.answered_by {
        out.push(format!("Answered by {by}."));
    }
    out.push(format!("Outcome: {}.", r.outcome));
    out.join("\n")
}

/// The digest's subject and body.
pub fn summary(s: &Summary) -> (String, String) {
    let hours = (s.until_ms - s.since_ms).max(0) / 3_600_000;
    let subject = format!(
        "[srebot] Summary: {} opened, {} resolved, {} open",
        s.opened,
        s.resolved,
        s.open.len()
    );
    let mut body = vec![format!(
        "Executive summary of the last {hours} h (until {}).",
        crate::render::rfc3339(s.until_ms)
    )];
    body.push(format!(
        "{} incident{} opened and {} resolved; {} still open.",
        s.opened,
        if s.opened == 1 { "" } else { "s" },
        s.resolved,
        s.open.len()
    ));
    if let Some(ms) = s.mean_time_to_resolve_ms {
        body.push(format!(
            "Resolved incidents took {} on average.",
            human_duration(ms)
        ));
    }
    body.push(format!(
        "{} action{} ran; {} approval{} waiting.",
        s.actions_executed,
        if s.actions_executed == 1 { "" } else { "s" },
        s.approvals_pending,
        if s.approvals_pending == 1 {
            " is"
        } else {
            "s are"
        }
    ));
    if s.paused {
        body.push("The robot is paused.".to_owned());
    }
    if !s.open.is_empty() {
        body.push(String::new());
        body.push("Open now:".to_owned());
        body.extend(
            s.open
                .iter()
                .take(20)
                .map(|i| format!("• {}", incident_line(i))),
        );
    }
    body.push(String::new());
    body.push("— SRE Smart Bot".to_owned());
    (subject, body.join("\n"))
}

/// `1 h 5 min`, `3 min`, `40 s`.
pub fn human_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s >= 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A model's grounded answer: the answer, its supporting sentences with their citations, the
/// cited evidence, and a line saying where it came from and that nothing was done.
pub fn grounded(a: &app::ask::Answer) -> String {
    let mut out = Vec::new();
    if a.text.is_empty() && a.claims.is_empty() {
        out.push(format!(
            "The model gave no answer that the evidence of {} supports.",
            a.incident
        ));
    } else if !a.text.is_empty() {
        out.push(a.text.clone());
    }
    if !a.claims.is_empty() {
        out.push("Because:".to_owned());
        out.extend(
            a.claims
                .iter()
                .map(|c| format!("• {} [{}]", c.text, c.evidence.join(", "))),
        );
    }
    if !a.citations.is_empty() {
        out.push("Sources:".to_owned());
        out.extend(
            a.citations
                .iter()
                .take(10)
                .map(|c| format!("[{}] {}", c.id, c.summary)),
        );
    }
    out.push(format!(
        "(Answered by {} from the draft of {}; an answer never takes an action — use the commands for that.)",
        if a.model.is_empty() { "the model" } else { &a.model },
        a.incident
    ));
    out.join("\n")
}
