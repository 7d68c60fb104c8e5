//! The live root-cause path's input: what the deterministic draft is built from, taken from
//! the ledger's incident and findings. `srebot eval rca` drives this same entry point.

use incident::{Finding, Incident};
use rca::{DraftInput, EvidenceRef, IncidentView};

/// The draft's input for one incident and its findings: incident view and the evidence of
/// every finding, ids prefixed `f<n>-` so they are unique in the bundle.
pub fn draft_input(incident: &Incident, findings: &[Finding]) -> DraftInput {
    let mut input = DraftInput::new(IncidentView {
        id: incident.id.clone(),
        incident_type: incident.incident_type,
        severity: incident.severity,
        target: incident.target.clone(),
        opened_at_ms: incident.opened_at_ms,
        signature: Some(incident.signature.clone()),
        node: findings.iter().find_map(|f| f.candidate.node.clone()),
    });
    for (n, finding) in findings.iter().enumerate() {
        let evidence = &finding.candidate.evidence;
        for metric in &evidence.metrics {
            input.evidence.push(EvidenceRef::from_metric(
                format!("f{}-{}", n + 1, metric.id),
                metric,
            ));
        }
        for event in &evidence.events {
            input.evidence.push(EvidenceRef::from_event(
                format!("f{}-{}", n + 1, event.id),
                event,
            ));
        }
    }
    input
}
