//! The pure, deterministic, event-time correlator: merges candidates into incidents by time
//! and topology, dedupes by signature, and drives the lifecycle on ticks.

use crate::Error;
use crate::config::CorrelatorConfig;
use crate::record::{Finding, Incident, TimelineEvent, TimelineKind};
use crate::signature::{Key, hash_hex, offers, scope_breadth, seeks, signature};
use crate::workspace::Suppression;
use model::{EventEvidence, IncidentCandidate, IncidentStatus, MetricEvidence, Severity};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One persisted effect of correlation: the incident's state after it, the findings that
/// were added or changed, findings folded into others, and the timeline entries appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub incident: Incident,
    /// Findings to insert or update (by id).
    pub findings: Vec<Finding>,
    /// `(retired finding id, finding id it was folded into)`: same signature met on merge.
    pub retired_findings: Vec<(String, String)>,
    pub timeline: Vec<TimelineEvent>,
}

impl Change {
    /// Whether operators should be told: an incident opened, reopened (unless flapping),
    /// got more severe, or resolved.
    pub fn notify(&self) -> bool {
        self.timeline.iter().any(|event| event.notify)
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    incident: Incident,
    /// By signature.
    findings: BTreeMap<String, Finding>,
    /// Offered topology keys → event times of the sightings offering them.
    index: HashMap<Key, BTreeSet<i64>>,
    /// Status to return to when a recovering incident fires again.
    active_status: IncidentStatus,
    /// Event times of reopens, for flapping.
    reopens: Vec<i64>,
    next_seq: u64,
}

/// Turns candidates into incidents. Deterministic: the same candidates and ticks give the
/// same changes; with no tick in between, any order of the same candidates gives the same
/// incidents (they are the connected components of the "shares topology and is within the
/// correlation window" relation).
#[derive(Debug, Clone, Default)]
pub struct Correlator {
    config: CorrelatorConfig,
    tracked: BTreeMap<String, Tracked>,
    /// Active and future suppression windows: matching incidents open as suppressed.
    suppressions: Vec<Suppression>,
}

impl Correlator {
    pub fn new(config: CorrelatorConfig) -> Self {
        Self {
            config,
            tracked: BTreeMap::new(),
            suppressions: Vec::new(),
        }
    }

    /// Replaces the suppression windows new incidents are checked against.
    pub fn set_suppressions(&mut self, suppressions: Vec<Suppression>) {
        self.suppressions = suppressions;
    }

    /// Whether the incident is held in memory (open, or resolved within the reopen window).
    pub fn is_tracked(&self, id: &str) -> bool {
        self.tracked.contains_key(id)
    }

    pub fn config(&self) -> &CorrelatorConfig {
        &self.config
    }

    /// Incidents held in memory: open ones and those resolved within the reopen window.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.tracked.values().map(|t| &t.incident)
    }

    /// Findings of an incident held in memory, by signature.
    pub fn findings(&self, id: &str) -> Option<impl Iterator<Item = &Finding>> {
        self.tracked.get(id).map(|t| t.findings.values())
    }

    /// Brings back an incident read from the ledger (after a restart), so recurrences keep
    /// joining it. `timeline_len` is the number of timeline entries it already has.
    pub fn restore(&mut self, mut incident: Incident, findings: Vec<Finding>, timeline_len: u64) {
        if incident.origins.is_empty() {
            // Stored before origins were recorded: its findings' candidates say.
            incident.origins = findings.iter().map(|f| f.candidate.origin).collect();
        }
        let mut tracked = Tracked {
            active_status: if incident.status.is_active() {
                incident.status
            } else {
                IncidentStatus::Observed
            },
            incident,
            findings: BTreeMap::new(),
            index: HashMap::new(),
            reopens: Vec::new(),
            next_seq: timeline_len,
        };
        for finding in findings {
            for key in offers(&finding.candidate) {
                let times = tracked.index.entry(key).or_default();
                times.insert(finding.first_seen_ms);
                times.insert(finding.last_seen_ms);
            }
            tracked.findings.insert(finding.signature.clone(), finding);
        }
        self.tracked.insert(tracked.incident.id.clone(), tracked);
    }

    /// Correlates one candidate (or, for a resolved-alert candidate, records a healthy
    /// signal) and returns what changed.
    pub fn ingest(&mut self, candidate: IncidentCandidate) -> Vec<Change> {
        if candidate.signal == model::Signal::Healthy {
            return self.healthy(&candidate);
        }
        let sig = signature(&candidate);
        let at = candidate.detected_at_ms;
        let sought = seeks(&candidate);
        let matched: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| {
                t.incident.source == candidate.source && t.matches(&sought, at, &self.config)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut changes = Vec::new();
        let Some(survivor_id) = matched
            .iter()
            .min_by_key(|id| {
                let t = &self.tracked[*id];
                (t.incident.opened_at_ms, (*id).clone())
            })
            .cloned()
        else {
            let mut tracked = self.open(candidate, sig);
            let window = self.suppressions.iter().find(|s| {
                s.covers(
                    &tracked.incident.signature,
                    tracked.incident.target.namespace.as_deref(),
                    tracked.incident.incident_type,
                    at,
                )
            });
            let detail = match window {
                Some(window) => {
                    tracked.incident.status = IncidentStatus::Suppressed;
                    format!(
                        "opened suppressed by window {:?} ({}): {}",
                        window.name,
                        window.origin.as_str(),
                        tracked.incident.summary
                    )
                }
                None => format!("opened: {}", tracked.incident.summary),
            };
            let change = Change {
                incident: tracked.incident.clone(),
                findings: tracked.findings.values().cloned().collect(),
                retired_findings: Vec::new(),
                timeline: vec![TimelineEvent {
                    incident_id: tracked.incident.id.clone(),
                    seq: 0,
                    at_ms: at,
                    kind: TimelineKind::Opened,
                    status: tracked.incident.status,
                    finding_id: tracked.findings.values().next().map(|f| f.id.clone()),
                    detail,
                    notify: window.is_none(),
                }],
            };
            self.tracked.insert(tracked.incident.id.clone(), tracked);
            return vec![change];
        };
        let Some(mut survivor) = self.tracked.remove(&survivor_id) else {
            return changes;
        };
        let mut pending = Pending::default();
        for id in matched.iter().filter(|id| **id != survivor_id) {
            if let Some(absorbed) = self.tracked.remove(id) {
                changes.push(survivor.absorb(absorbed, at, &mut pending));
            }
        }
        survivor.add(candidate, sig, &self.config, &mut pending);
        survivor.refresh(&self.config, at, &mut pending);
        changes.push(pending.into_change(&survivor));
        self.tracked.insert(survivor_id, survivor);
        changes
    }

    /// Advances event time: recovering, resolving and forgetting incidents whose signals
    /// have stayed healthy.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Change> {
        self.tick_source(None, now_ms)
    }

    /// [`Correlator::tick`] for the incidents of one source only (`None`: all), at that
    /// source's event time: each source's incidents follow its own clock.
    pub fn tick_source(&mut self, source: Option<&str>, now_ms: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut forget = Vec::new();
        for (id, tracked) in &mut self.tracked {
            if source.is_some_and(|s| s != tracked.incident.source) {
                continue;
            }
            let healthy_since = tracked.healthy_since(&self.config);
            let mut pending = Pending::default();
            let status = tracked.incident.status;
            if status.is_active() && now_ms >= healthy_since {
                tracked.active_status = status;
                tracked.set_status(
                    IncidentStatus::Recovering,
                    now_ms,
                    "all signals healthy".to_owned(),
                    false,
                    &mut pending,
                );
            }
            let hold = if tracked.incident.flapping {
                self.config.flap_hold_ms
            } else {
                self.config.resolve_after_healthy_ms
            };
            if tracked.incident.status == IncidentStatus::Recovering
                && now_ms >= healthy_since.saturating_add(hold)
            {
                tracked.incident.resolved_at_ms = Some(now_ms);
                tracked.incident.flapping = false;
                tracked.set_status(
                    IncidentStatus::Resolved,
                    now_ms,
                    format!("resolved after signals stayed healthy for {}s", hold / 1000),
                    true,
                    &mut pending,
                );
            }
            let expiry = match tracked.incident.status {
                IncidentStatus::Resolved => tracked.incident.resolved_at_ms,
                IncidentStatus::Suppressed => Some(healthy_since),
                _ => None,
            };
            if expiry.is_some_and(|at| now_ms > at.saturating_add(self.config.reopen_window_ms)) {
                forget.push(id.clone());
            }
            if !pending.timeline.is_empty() {
                tracked.incident.updated_at_ms = tracked.incident.updated_at_ms.max(now_ms);
                changes.push(pending.into_change(tracked));
            }
        }
        for id in forget {
            self.tracked.remove(&id);
        }
        changes
    }

    /// An operator's (or the policy engine's) status change: triaged, contained, escalated,
    /// suppressed, or resolved by hand.
    pub fn set_status(
        &mut self,
        id: &str,
        status: IncidentStatus,
        at_ms: i64,
    ) -> Result<Change, Error> {
        self.set_status_by(id, status, at_ms, "operator", "")
    }

    /// [`Correlator::set_status`] naming who asked and why, in the timeline.
    pub fn set_status_by(
        &mut self,
        id: &str,
        status: IncidentStatus,
        at_ms: i64,
        who: &str,
        why: &str,
    ) -> Result<Change, Error> {
        let tracked = self
            .tracked
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        let from = tracked.incident.status;
        let allowed = !matches!(from, IncidentStatus::Resolved | IncidentStatus::Suppressed)
            && !matches!(
                status,
                IncidentStatus::Observed | IncidentStatus::Recovering
            )
            && from != status;
        if !allowed {
            return Err(Error::InvalidTransition {
                id: id.to_owned(),
                from,
                to: status,
            });
        }
        let mut pending = Pending::default();
        if status.is_active() {
            tracked.active_status = status;
        }
        if status == IncidentStatus::Resolved {
            tracked.incident.resolved_at_ms = Some(at_ms);
        }
        let why = if why.trim().is_empty() {
            String::new()
        } else {
            format!(" ({})", why.trim())
        };
        tracked.set_status(
            status,
            at_ms,
            format!("set to {status} by {who}{why}"),
            status == IncidentStatus::Resolved,
            &mut pending,
        );
        tracked.incident.updated_at_ms = tracked.incident.updated_at_ms.max(at_ms);
        Ok(pending.into_change(tracked))
    }

    /// An operator's note on a held incident (acknowledged, assigned, commented, ...):
    /// `edit` changes the incident's fields, the event goes to its timeline.
    pub fn annotate(
        &mut self,
        id: &str,
        kind: TimelineKind,
        at_ms: i64,
        detail: String,
        edit: impl FnOnce(&mut Incident),
    ) -> Result<Change, Error> {
        let tracked = self
            .tracked
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        edit(&mut tracked.incident);
        let mut pending = Pending::default();
        tracked.push_event(kind, at_ms, None, detail, false, &mut pending);
        tracked.incident.updated_at_ms = tracked.incident.updated_at_ms.max(at_ms);
        Ok(pending.into_change(tracked))
    }

    /// Folds incident `absorbed` into `survivor` by hand, as correlation does when a finding
    /// links them: findings, candidates and origins move, the absorbed one is marked merged.
    /// Both must be held (open, or resolved within the reopen window) and not the same.
    pub fn merge(
        &mut self,
        survivor_id: &str,
        absorbed_id: &str,
        at_ms: i64,
        who: &str,
    ) -> Result<Vec<Change>, Error> {
        if survivor_id == absorbed_id {
            return Err(Error::InvalidMerge {
                id: survivor_id.to_owned(),
                reason: "an incident cannot be merged into itself".to_owned(),
            });
        }
        for id in [survivor_id, absorbed_id] {
            let tracked = self
                .tracked
                .get(id)
                .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
            if tracked.incident.status == IncidentStatus::Suppressed {
                return Err(Error::InvalidMerge {
                    id: id.to_owned(),
                    reason: "it is suppressed".to_owned(),
                });
            }
        }
        let sources: Vec<&str> = [survivor_id, absorbed_id]
            .iter()
            .filter_map(|id| self.tracked.get(*id))
            .map(|t| t.incident.source.as_str())
            .collect();
        if let [a, b] = sources[..]
            && a != b
        {
            return Err(Error::InvalidMerge {
                id: absorbed_id.to_owned(),
                reason: format!("it comes from source {b:?}, the other from {a:?}"),
            });
        }
        let (Some(mut survivor), Some(absorbed)) = (
            self.tracked.remove(survivor_id),
            self.tracked.remove(absorbed_id),
        ) else {
            return Err(Error::NotFound {
                id: absorbed_id.to_owned(),
            });
        };
        let mut pending = Pending::default();
        let mut absorbed_change = survivor.absorb(absorbed, at_ms, &mut pending);
        if let Some(last) = absorbed_change.timeline.last_mut() {
            last.detail = format!("{} by {who}", last.detail);
        }
        if let Some(last) = pending.timeline.last_mut() {
            last.detail = format!("{} by {who}", last.detail);
        }
        if survivor.incident.status == IncidentStatus::Resolved {
            survivor.incident.status = IncidentStatus::Observed;
            survivor.incident.resolved_at_ms = None;
        }
        survivor.refresh(&self.config, at_ms, &mut pending);
        survivor.incident.updated_at_ms = survivor.incident.updated_at_ms.max(at_ms);
        let survivor_change = pending.into_change(&survivor);
        self.tracked.insert(survivor_id.to_owned(), survivor);
        Ok(vec![absorbed_change, survivor_change])
    }

    fn healthy(&mut self, candidate: &IncidentCandidate) -> Vec<Change> {
        let sig = signature(candidate);
        let at = candidate.detected_at_ms;
        let mut changes = Vec::new();
        for tracked in self.tracked.values_mut() {
            let Some(finding) = tracked.findings.get_mut(&sig) else {
                continue;
            };
            if at < finding.last_seen_ms || finding.healthy_at_ms.is_some_and(|h| h >= at) {
                continue;
            }
            finding.healthy_at_ms = Some(at);
            let finding = finding.clone();
            let mut pending = Pending::default();
            tracked.push_event(
                TimelineKind::SignalHealthy,
                at,
                Some(finding.id.clone()),
                format!(
                    "{} {} {} reported healthy",
                    finding.candidate.incident_type,
                    finding.candidate.scope.as_str(),
                    finding.candidate.target
                ),
                false,
                &mut pending,
            );
            pending.findings.insert(finding.id.clone(), finding);
            changes.push(pending.into_change(tracked));
        }
        changes
    }

    fn open(&self, candidate: IncidentCandidate, sig: String) -> Tracked {
        let at = candidate.detected_at_ms;
        let mut id = format!(
            "inc-{}",
            &hash_hex(&["incident", &sig, &at.to_string()])[..16]
        );
        let mut salt = 0u32;
        while self.tracked.contains_key(&id) {
            salt += 1;
            id = format!(
                "inc-{}",
                &hash_hex(&["incident", &sig, &at.to_string(), &salt.to_string()])[..16]
            );
        }
        let mut tracked = Tracked {
            incident: Incident {
                id,
                signature: sig.clone(),
                incident_type: candidate.incident_type,
                domain: candidate.incident_type.domain(),
                severity: candidate.severity,
                status: IncidentStatus::Observed,
                target: candidate.target_ref(),
                opened_at_ms: at,
                updated_at_ms: at,
                resolved_at_ms: None,
                summary: String::new(),
                candidate_count: 0,
                reopen_count: 0,
                flapping: false,
                merged_into: None,
                origins: BTreeSet::new(),
                source: candidate.source.clone(),
                assignee: None,
                acknowledged_by: None,
                acknowledged_at_ms: None,
            },
            findings: BTreeMap::new(),
            index: HashMap::new(),
            active_status: IncidentStatus::Observed,
            reopens: Vec::new(),
            next_seq: 1,
        };
        let mut pending = Pending::default();
        tracked.add(candidate, sig, &self.config, &mut pending);
        tracked.refresh(&self.config, at, &mut Pending::default());
        tracked
    }
}

/// What one operation on one incident changed, gathered before it becomes a [`Change`].
#[derive(Debug, Default)]
struct Pending {
    findings: BTreeMap<String, Finding>,
    retired: Vec<(String, String)>,
    timeline: Vec<TimelineEvent>,
}

impl Pending {
    fn into_change(self, tracked: &Tracked) -> Change {
        Change {
            incident: tracked.incident.clone(),
            findings: self.findings.into_values().collect(),
            retired_findings: self.retired,
            timeline: self.timeline,
        }
    }
}

impl Tracked {
    fn matches(&self, sought: &[Key], at: i64, config: &CorrelatorConfig) -> bool {
        let window = config.correlation_window_ms;
        let shares = |within: bool| {
            sought.iter().any(|key| {
                self.index.get(key).is_some_and(|times| {
                    !within
                        || times
                            .range(at.saturating_sub(window)..=at.saturating_add(window))
                            .next()
                            .is_some()
                })
            })
        };
        match (self.incident.status, self.incident.resolved_at_ms) {
            (IncidentStatus::Resolved, Some(resolved_at)) => {
                shares(true)
                    || (at > resolved_at
                        && at <= resolved_at.saturating_add(config.reopen_window_ms)
                        && shares(false))
            }
            // Still open while recovering: a recurrence on the same topology joins it.
            (IncidentStatus::Recovering, _) => {
                shares(true) || (at >= self.incident.opened_at_ms && shares(false))
            }
            _ => shares(true),
        }
    }

    /// Earliest time at which every finding counts as healthy.
    fn healthy_since(&self, config: &CorrelatorConfig) -> i64 {
        self.findings
            .values()
            .map(|f| {
                f.healthy_at_ms
                    .unwrap_or_else(|| f.last_seen_ms.saturating_add(config.stale_after_ms))
            })
            .max()
            .unwrap_or(i64::MIN)
    }

    fn push_event(
        &mut self,
        kind: TimelineKind,
        at_ms: i64,
        finding_id: Option<String>,
        detail: String,
        notify: bool,
        pending: &mut Pending,
    ) {
        pending.timeline.push(TimelineEvent {
            incident_id: self.incident.id.clone(),
            seq: self.next_seq,
            at_ms,
            kind,
            status: self.incident.status,
            finding_id,
            detail,
            notify,
        });
        self.next_seq += 1;
    }

    fn set_status(
        &mut self,
        status: IncidentStatus,
        at_ms: i64,
        why: String,
        notify: bool,
        pending: &mut Pending,
    ) {
        let from = self.incident.status;
        self.incident.status = status;
        self.push_event(
            TimelineKind::StatusChanged,
            at_ms,
            None,
            format!("{from} → {status}: {why}"),
            notify,
            pending,
        );
    }

    /// Folds another incident into this one; returns the absorbed incident's last change.
    fn absorb(&mut self, mut other: Tracked, at: i64, pending: &mut Pending) -> Change {
        let mut moved = 0usize;
        for (sig, mut finding) in std::mem::take(&mut other.findings) {
            match self.findings.get_mut(&sig) {
                Some(kept) => {
                    pending.retired.push((finding.id.clone(), kept.id.clone()));
                    fold_finding(kept, finding);
                    pending.findings.insert(kept.id.clone(), kept.clone());
                }
                None => {
                    finding.incident_id = self.incident.id.clone();
                    pending.findings.insert(finding.id.clone(), finding.clone());
                    self.findings.insert(sig, finding);
                }
            }
            moved += 1;
        }
        for (key, times) in std::mem::take(&mut other.index) {
            self.index.entry(key).or_default().extend(times);
        }
        self.incident.candidate_count += other.incident.candidate_count;
        self.incident
            .origins
            .extend(other.incident.origins.iter().copied());
        self.incident.opened_at_ms = self.incident.opened_at_ms.min(other.incident.opened_at_ms);
        self.reopens.extend(other.reopens.iter().copied());
        let other_id = other.incident.id.clone();
        self.push_event(
            TimelineKind::Absorbed,
            at,
            None,
            format!("absorbed incident {other_id} ({moved} findings)"),
            false,
            pending,
        );
        other.incident.status = IncidentStatus::Suppressed;
        other.incident.merged_into = Some(self.incident.id.clone());
        other.incident.updated_at_ms = other.incident.updated_at_ms.max(at);
        let mut own = Pending::default();
        other.push_event(
            TimelineKind::Merged,
            at,
            None,
            format!("merged into incident {}", self.incident.id),
            false,
            &mut own,
        );
        own.into_change(&other)
    }

    fn add(
        &mut self,
        candidate: IncidentCandidate,
        sig: String,
        config: &CorrelatorConfig,
        pending: &mut Pending,
    ) {
        let at = candidate.detected_at_ms;
        for key in offers(&candidate) {
            self.index.entry(key).or_default().insert(at);
        }
        self.incident.candidate_count += 1;
        self.incident.origins.insert(candidate.origin);
        let finding = match self.findings.get_mut(&sig) {
            Some(finding) => {
                fold_finding(
                    finding,
                    Finding {
                        id: String::new(),
                        incident_id: String::new(),
                        signature: sig,
                        severity: candidate.severity,
                        confidence: candidate.confidence,
                        occurrences: 1,
                        first_seen_ms: at,
                        last_seen_ms: at,
                        healthy_at_ms: None,
                        candidate,
                    },
                );
                finding.clone()
            }
            None => {
                let finding = Finding {
                    id: format!(
                        "fnd-{}",
                        &hash_hex(&["finding", &self.incident.id, &sig])[..16]
                    ),
                    incident_id: self.incident.id.clone(),
                    signature: sig.clone(),
                    severity: candidate.severity,
                    confidence: candidate.confidence,
                    occurrences: 1,
                    first_seen_ms: at,
                    last_seen_ms: at,
                    healthy_at_ms: None,
                    candidate,
                };
                if self.incident.candidate_count > 1 {
                    self.push_event(
                        TimelineKind::FindingAdded,
                        at,
                        Some(finding.id.clone()),
                        format!("new finding: {}", describe(&finding.candidate)),
                        false,
                        pending,
                    );
                }
                self.findings.insert(sig, finding.clone());
                finding
            }
        };
        pending.findings.insert(finding.id.clone(), finding);
        match self.incident.status {
            IncidentStatus::Resolved => {
                self.incident.resolved_at_ms = None;
                self.incident.reopen_count += 1;
                self.reopens.push(at);
                let recent = self
                    .reopens
                    .iter()
                    .filter(|&&r| r > at.saturating_sub(config.flap_window_ms) && r <= at)
                    .count();
                self.incident.flapping = recent >= config.flap_threshold as usize;
                self.active_status = IncidentStatus::Observed;
                self.incident.status = IncidentStatus::Observed;
                let detail = if self.incident.flapping {
                    format!("reopened ({recent} times recently: flapping, held open)")
                } else {
                    "reopened: signal recurred within the reopen window".to_owned()
                };
                let notify = !self.incident.flapping;
                self.push_event(TimelineKind::Reopened, at, None, detail, notify, pending);
            }
            IncidentStatus::Recovering => {
                let back = self.active_status;
                self.set_status(back, at, "signal firing again".to_owned(), false, pending);
            }
            _ => {}
        }
    }

    /// Recomputes what depends on the whole set of findings: primary, type, target,
    /// severity, summary.
    fn refresh(&mut self, config: &CorrelatorConfig, at: i64, pending: &mut Pending) {
        // A rule's, an event's or an alert's finding leads before a model's (a model says
        // something is off, a rule says what); then the widest, the most severe, one that
        // names the cause of another's symptom on the same target, the first seen.
        let explains = |f: &Finding| {
            self.findings.values().any(|other| {
                f.candidate
                    .incident_type
                    .explains(other.candidate.incident_type)
                    && other.candidate.target_ref() == f.candidate.target_ref()
            })
        };
        let Some(primary) = self.findings.values().max_by_key(|f| {
            (
                f.candidate.origin != model::Origin::Anomaly,
                scope_breadth(f.candidate.scope),
                f.severity,
                explains(f),
                Reverse(f.first_seen_ms),
                Reverse(f.signature.clone()),
            )
        }) else {
            return;
        };
        let targets: BTreeSet<(u8, Option<&str>, &str)> = self
            .findings
            .values()
            .map(|f| {
                (
                    scope_breadth(f.candidate.scope),
                    f.candidate.namespace.as_deref(),
                    f.candidate.target.as_str(),
                )
            })
            .collect();
        let mut severity = self
            .findings
            .values()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Info);
        if targets.len() >= config.escalate_targets.max(1) {
            severity = Severity::Critical;
        }
        let summary = summarise(primary, self.findings.len(), targets.len());
        self.incident.signature = primary.signature.clone();
        self.incident.incident_type = primary.candidate.incident_type;
        self.incident.domain = primary.candidate.incident_type.domain();
        self.incident.target = primary.candidate.target_ref();
        self.incident.summary = summary;
        self.incident.updated_at_ms = self.incident.updated_at_ms.max(at);
        if let Some(first) = self.findings.values().map(|f| f.first_seen_ms).min() {
            self.incident.opened_at_ms = self.incident.opened_at_ms.min(first);
        }
        let previous = self.incident.severity;
        self.incident.severity = severity;
        if severity != previous && self.incident.candidate_count > 1 {
            let notify = severity > previous && !self.incident.flapping;
            self.push_event(
                TimelineKind::SeverityChanged,
                at,
                None,
                format!("severity {} → {}", previous.as_str(), severity.as_str()),
                notify,
                pending,
            );
        }
    }
}

/// Folds `other` (same signature) into `kept`.
fn fold_finding(kept: &mut Finding, other: Finding) {
    kept.occurrences += other.occurrences;
    kept.severity = kept.severity.max(other.severity);
    kept.confidence = kept.confidence.max(other.confidence);
    if other.last_seen_ms > kept.last_seen_ms {
        kept.last_seen_ms = other.last_seen_ms;
        if kept.healthy_at_ms.is_some_and(|h| h < other.last_seen_ms) {
            kept.healthy_at_ms = None;
        }
    }
    if other.healthy_at_ms > kept.healthy_at_ms && other.last_seen_ms <= kept.last_seen_ms {
        kept.healthy_at_ms = other.healthy_at_ms;
    }
    let mut events = std::mem::take(&mut kept.candidate.evidence.events);
    let mut other = other;
    events.append(&mut other.candidate.evidence.events);
    // A rule's sighting describes the finding before a model's; among equals, the earliest.
    let by_rule = |c: &IncidentCandidate| c.origin != model::Origin::Anomaly;
    let earlier = other.first_seen_ms < kept.first_seen_ms;
    kept.first_seen_ms = kept.first_seen_ms.min(other.first_seen_ms);
    if (by_rule(&other.candidate), earlier) > (by_rule(&kept.candidate), false) {
        kept.candidate = other.candidate;
    }
    kept.candidate.evidence.events = union_of_events(events);
}

/// Most event evidence items a finding keeps across its sightings: the earliest
/// [`FIRST_EVENTS_KEPT`] and the most recent rest.
pub const MAX_EVENTS_PER_FINDING: usize = 50;
const FIRST_EVENTS_KEPT: usize = 10;

/// The distinct events (by id) of all sightings of one finding, oldest first and bounded: a
/// disk-pressure episode's kubelet events all stay evidence of its one finding.
fn union_of_events(mut events: Vec<EventEvidence>) -> Vec<EventEvidence> {
    events.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
    let mut seen = BTreeSet::new();
    events.retain(|e| seen.insert(e.id.clone()));
    if events.len() > MAX_EVENTS_PER_FINDING {
        let recent = MAX_EVENTS_PER_FINDING - FIRST_EVENTS_KEPT;
        events.drain(FIRST_EVENTS_KEPT..events.len() - recent);
    }
    events
}

/// `memory leak on deployment shop/payments-api`
fn describe(candidate: &IncidentCandidate) -> String {
    let kind = candidate.incident_type.as_str().replace('_', " ");
    let scope = candidate.scope.as_str();
    match &candidate.namespace {
        Some(namespace) => format!("{kind} on {scope} {namespace}/{}", candidate.target),
        None => format!("{kind} on {scope} {}", candidate.target),
    }
}

fn summarise(primary: &Finding, findings: usize, targets: usize) -> String {
    let mut text = describe(&primary.candidate);
    if let Some(first) = text.get(..1) {
        let upper = first.to_ascii_uppercase();
        text.replace_range(..1, &upper);
    }
    let related = findings.saturating_sub(1);
    if related > 0 {
        text.push_str(&format!(
            ", with {related} related finding{} across {targets} target{}",
            if related == 1 { "" } else { "s" },
            if targets == 1 { "" } else { "s" }
        ));
    }
    let evidence = &primary.candidate.evidence;
    if let Some(said) = evidence.metrics.first().and_then(|m| m.summary.as_deref()) {
        text.push_str(&format!(": {said}"));
    } else if let Some(metric) = evidence.metrics.first() {
        text.push_str(&format!("; {}", describe_metric(metric)));
    } else if let Some(event) = evidence.events.first() {
        text.push_str(&format!("; {} event {}", event.origin, event.reason));
    }
    text
}

fn describe_metric(metric: &MetricEvidence) -> String {
    let name = metric.series.metric_name();
    let name = if name.is_empty() { "series" } else { name };
    let mut text = format!(
        "{name} {} {} over {}",
        metric.aggregate,
        number(metric.observed),
        metric.window
    );
    if let Some(expected) = metric.expected {
        text.push_str(&format!(" (expected {})", number(expected)));
    }
    text
}

/// Up to three decimals, trailing zeros dropped.
fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.3}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Evidence, IncidentType, Scope};

    const MIN: i64 = 60_000;

    fn cand(
        t: IncidentType,
        scope: Scope,
        target: &str,
        ns: Option<&str>,
        node: Option<&str>,
        at: i64,
    ) -> IncidentCandidate {
        IncidentCandidate {
            incident_type: t,
            scope,
            target: target.to_owned(),
            namespace: ns.map(str::to_owned),
            node: node.map(str::to_owned),
            confidence: 0.8,
            severity: Severity::Warning,
            detector: "test".to_owned(),
            origin: model::Origin::Rules,
            detected_at_ms: at,
            signal: model::Signal::Firing,
            source: model::DEFAULT_SOURCE.to_owned(),
            affects: Vec::new(),
            evidence: Evidence::default(),
        }
    }

    fn pod(t: IncidentType, name: &str, ns: &str, node: &str, at: i64) -> IncidentCandidate {
        cand(t, Scope::Pod, name, Some(ns), Some(node), at)
    }

    fn open_incidents(c: &Correlator) -> Vec<&Incident> {
        c.incidents().filter(|i| i.merged_into.is_none()).collect()
    }

    fn event(id: &str, at: i64) -> EventEvidence {
        EventEvidence {
            id: id.to_owned(),
            origin: model::Origin::Kubernetes,
            reason: "EvictionThresholdMet".to_owned(),
            message: "Attempting to reclaim ephemeral-storage".to_owned(),
            at_ms: at,
            labels: model::LabelSet::default(),
        }
    }

    #[test]
    fn a_leak_found_after_its_memory_jumped_names_the_incident() {
        let mut c = Correlator::default();
        let jump = cand(
            IncidentType::MemoryPressure,
            Scope::Deployment,
            "orders",
            Some("shop"),
            None,
            MIN,
        );
        // The jump keeps firing while the memory climbs; the leak rule needs its whole window.
        for minute in 1..40 {
            let mut again = jump.clone();
            again.detected_at_ms = minute * MIN;
            c.ingest(again);
        }
        assert_eq!(
            open_incidents(&c)[0].incident_type,
            IncidentType::MemoryPressure
        );
        let leak = cand(
            IncidentType::MemoryLeak,
            Scope::Deployment,
            "orders",
            Some("shop"),
            None,
            40 * MIN,
        );
        c.ingest(leak);
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].incident_type, IncidentType::MemoryLeak);
        assert!(!IncidentType::MemoryPressure.explains(IncidentType::MemoryLeak));
    }

    #[test]
    fn a_rules_finding_on_a_pod_names_an_incident_a_model_opened_on_its_deployment() {
        let mut c = Correlator::default();
        let mut model_found = cand(
            IncidentType::MetricAnomaly,
            Scope::Deployment,
            "payments-api",
            Some("shop"),
            None,
            MIN,
        );
        model_found.origin = model::Origin::Anomaly;
        c.ingest(model_found);
        c.ingest(pod(
            IncidentType::MemoryLeak,
            "payments-api-7d9c5b0f6d-x2x1k",
            "shop",
            "worker-1",
            5 * MIN,
        ));
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].incident_type, IncidentType::MemoryLeak);
        assert_eq!(incidents[0].opened_at_ms, MIN);
    }

    #[test]
    fn a_rules_sighting_of_a_finding_a_model_saw_first_describes_it() {
        let finding = |origin, at| {
            let mut candidate = cand(
                IncidentType::MemoryLeak,
                Scope::Deployment,
                "recommender",
                Some("shop"),
                None,
                at,
            );
            candidate.origin = origin;
            Finding {
                id: String::new(),
                incident_id: String::new(),
                signature: String::new(),
                severity: Severity::Warning,
                confidence: 0.8,
                occurrences: 1,
                first_seen_ms: at,
                last_seen_ms: at,
                healthy_at_ms: None,
                candidate,
            }
        };
        let mut kept = finding(model::Origin::Anomaly, MIN);
        fold_finding(&mut kept, finding(model::Origin::Rules, 9 * MIN));
        assert_eq!(kept.candidate.origin, model::Origin::Rules);
        assert_eq!((kept.first_seen_ms, kept.last_seen_ms), (MIN, 9 * MIN));
        // A later model sighting does not displace the rule's.
        fold_finding(&mut kept, finding(model::Origin::Anomaly, 10 * MIN));
        assert_eq!(kept.candidate.origin, model::Origin::Rules);
        assert_eq!(kept.occurrences, 3);
    }

    #[test]
    fn sightings_of_one_finding_keep_every_distinct_event_bounded() {
        let mut c = Correlator::default();
        for (i, at) in [3 * MIN, MIN, 2 * MIN, 2 * MIN].into_iter().enumerate() {
            let mut node = cand(
                IncidentType::NodeDiskPressure,
                Scope::Node,
                "worker-2",
                None,
                None,
                at,
            );
            // The last sighting repeats the third's event: it is kept once.
            let id = format!("k8s-{}", i.min(2));
            node.evidence.events.push(event(&id, at));
            c.ingest(node);
        }
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 1);
        let finding = c.findings(&incidents[0].id).unwrap().next().unwrap();
        assert_eq!(finding.occurrences, 4);
        let ids: Vec<&str> = finding
            .candidate
            .evidence
            .events
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(ids, ["k8s-1", "k8s-2", "k8s-0"], "oldest first, distinct");

        let many: Vec<EventEvidence> = (0..80).map(|i| event(&format!("e{i:02}"), i)).collect();
        let kept = union_of_events(many);
        assert_eq!(kept.len(), MAX_EVENTS_PER_FINDING);
        assert_eq!(kept[0].id, "e00");
        assert_eq!(kept[FIRST_EVENTS_KEPT - 1].id, "e09");
        assert_eq!(kept[FIRST_EVENTS_KEPT].id, "e40");
        assert_eq!(kept.last().unwrap().id, "e79");
    }

    #[test]
    fn a_dependency_joins_the_findings_of_its_dependents() {
        let mut dependency = cand(
            IncidentType::DependencyUnavailable,
            Scope::Service,
            "redis",
            Some("data"),
            None,
            MIN,
        );
        dependency.affects = vec![
            model::Target::new(Scope::Deployment, Some("shop"), "cart"),
            model::Target::new(Scope::Deployment, Some("shop"), "worker"),
        ];
        let cart = cand(
            IncidentType::ErrorRateSpike,
            Scope::Deployment,
            "cart",
            Some("shop"),
            None,
            2 * MIN,
        );
        let worker = pod(
            IncidentType::CrashLoop,
            "worker-5f6d8c7b9-abc12",
            "shop",
            "n1",
            2 * MIN,
        );
        let unrelated = cand(
            IncidentType::ErrorRateSpike,
            Scope::Deployment,
            "search",
            Some("shop"),
            None,
            2 * MIN,
        );
        // Either order gives the same incidents.
        for order in [
            vec![
                dependency.clone(),
                cart.clone(),
                worker.clone(),
                unrelated.clone(),
            ],
            vec![
                cart.clone(),
                worker.clone(),
                unrelated.clone(),
                dependency.clone(),
            ],
        ] {
            let mut c = Correlator::default();
            for candidate in order {
                c.ingest(candidate);
            }
            let incidents = open_incidents(&c);
            assert_eq!(incidents.len(), 2);
            let joined = incidents
                .iter()
                .find(|i| i.incident_type == IncidentType::DependencyUnavailable)
                .expect("the dependency is the broadest finding");
            assert_eq!(c.findings(&joined.id).unwrap().count(), 3);
            assert_eq!(joined.target.name, "redis");
        }
    }

    #[test]
    fn same_signature_dedupes_into_one_finding() {
        let mut c = Correlator::default();
        let first = c.ingest(pod(
            IncidentType::CrashLoop,
            "api-5f6d8c7b9-abc12",
            "shop",
            "n1",
            0,
        ));
        assert!(first[0].notify());
        let mut again = pod(
            IncidentType::CrashLoop,
            "api-5f6d8c7b9-abc12",
            "shop",
            "n1",
            MIN,
        );
        again.detector = "other_detector".to_owned();
        again.confidence = 0.3;
        let second = c.ingest(again);
        assert_eq!(second.len(), 1);
        assert!(!second[0].notify(), "a duplicate is not re-notified");
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].candidate_count, 2);
        let findings: Vec<_> = c.findings(&incidents[0].id).unwrap().collect();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].occurrences, 2);
        assert_eq!(findings[0].last_seen_ms, MIN);
    }

    #[test]
    fn node_problem_absorbs_pod_symptoms_on_that_node() {
        let mut c = Correlator::default();
        // Symptoms first, in two namespaces, then the node problem that explains them.
        for i in 0..20 {
            let ns = if i % 2 == 0 { "shop" } else { "billing" };
            let name = format!("svc{}-5f6d8c7b9-ab{:03}", i % 4, i);
            c.ingest(pod(IncidentType::CrashLoop, &name, ns, "node-b", i * 1_000));
        }
        assert!(open_incidents(&c).len() > 1);
        let changes = c.ingest(cand(
            IncidentType::NodeDiskPressure,
            Scope::Node,
            "node-b",
            None,
            None,
            30_000,
        ));
        assert!(changes.iter().any(|ch| ch.incident.merged_into.is_some()));
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        assert_eq!(incidents[0].incident_type, IncidentType::NodeDiskPressure);
        assert_eq!(incidents[0].target.name, "node-b");
        assert_eq!(incidents[0].candidate_count, 21);
        assert_eq!(
            incidents[0].severity,
            Severity::Critical,
            "20 targets escalate"
        );
        // A pod on another node stays apart.
        c.ingest(pod(
            IncidentType::CrashLoop,
            "other-5f6d8c7b9-zz999",
            "ops",
            "node-a",
            31_000,
        ));
        assert_eq!(open_incidents(&c).len(), 2);
    }

    #[test]
    fn different_namespaces_stay_apart() {
        let mut c = Correlator::default();
        c.ingest(cand(
            IncidentType::LatencySpike,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            0,
        ));
        c.ingest(cand(
            IncidentType::LatencySpike,
            Scope::Deployment,
            "api",
            Some("billing"),
            None,
            0,
        ));
        c.ingest(pod(
            IncidentType::CrashLoop,
            "api-5f6d8c7b9-abc12",
            "shop",
            "n1",
            1_000,
        ));
        let incidents = open_incidents(&c);
        assert_eq!(incidents.len(), 2);
        let shop = incidents
            .iter()
            .find(|i| i.target.namespace.as_deref() == Some("shop"))
            .unwrap();
        assert_eq!(shop.candidate_count, 2, "the pod joins its deployment");
    }

    #[test]
    fn a_time_gap_opens_a_new_incident() {
        let mut c = Correlator::default();
        let window = c.config().correlation_window_ms;
        c.ingest(cand(
            IncidentType::ErrorRateSpike,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            0,
        ));
        c.ingest(cand(
            IncidentType::LatencySpike,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            window,
        ));
        assert_eq!(
            open_incidents(&c).len(),
            1,
            "exactly the window apart still joins"
        );
        c.ingest(cand(
            IncidentType::LatencySpike,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            2 * window + 1,
        ));
        assert_eq!(open_incidents(&c).len(), 2);
    }

    fn resolved(c: &mut Correlator, id: &str, until: i64) -> Option<i64> {
        let mut t = 0;
        while t <= until {
            c.tick(t);
            if let Some(i) = c.incidents().find(|i| i.id == id)
                && i.status == IncidentStatus::Resolved
            {
                return Some(t);
            }
            t += MIN;
        }
        None
    }

    #[test]
    fn resolves_after_signals_stay_healthy() {
        let config = CorrelatorConfig::default();
        let mut c = Correlator::new(config.clone());
        let changes = c.ingest(cand(
            IncidentType::MemoryLeak,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            0,
        ));
        let id = changes[0].incident.id.clone();
        let recovering = c.tick(config.stale_after_ms);
        assert_eq!(recovering[0].incident.status, IncidentStatus::Recovering);
        assert!(!recovering[0].notify());
        assert!(
            c.tick(config.stale_after_ms + config.resolve_after_healthy_ms - 1)
                .is_empty()
        );
        let done = c.tick(config.stale_after_ms + config.resolve_after_healthy_ms);
        assert_eq!(done[0].incident.status, IncidentStatus::Resolved);
        assert!(done[0].notify());
        assert_eq!(resolved(&mut c, &id, 0), Some(0));
    }

    #[test]
    fn an_explicit_healthy_signal_resolves_sooner_and_recurrence_holds_it_open() {
        let config = CorrelatorConfig::default();
        let mut c = Correlator::new(config.clone());
        let firing = cand(
            IncidentType::CrashLoop,
            Scope::Pod,
            "api-5f6d8c7b9-abc12",
            Some("shop"),
            None,
            0,
        );
        c.ingest(firing.clone());
        let mut healthy = firing.clone();
        healthy.detected_at_ms = MIN;
        healthy.signal = model::Signal::Healthy;
        healthy.evidence.events.push(model::EventEvidence {
            id: "a1".into(),
            origin: model::Origin::Alertmanager,
            reason: crate::alertmanager::HEALTHY_REASON.into(),
            message: String::new(),
            at_ms: MIN,
            labels: Default::default(),
        });
        assert_eq!(c.ingest(healthy).len(), 1);
        assert_eq!(c.tick(MIN)[0].incident.status, IncidentStatus::Recovering);
        // Firing again while recovering returns it to observed without a notification.
        let mut again = firing;
        again.detected_at_ms = 2 * MIN;
        let back = c.ingest(again);
        assert_eq!(back[0].incident.status, IncidentStatus::Observed);
        assert!(!back[0].notify());
    }

    #[test]
    fn reopens_within_the_window_and_opens_new_after_it() {
        let config = CorrelatorConfig::default();
        let mut c = Correlator::new(config.clone());
        let make = |at| {
            cand(
                IncidentType::LatencySpike,
                Scope::Deployment,
                "api",
                Some("shop"),
                None,
                at,
            )
        };
        let id = c.ingest(make(0))[0].incident.id.clone();
        let resolved_at = config.stale_after_ms + config.resolve_after_healthy_ms;
        c.tick(resolved_at);
        let reopened = c.ingest(make(resolved_at + config.reopen_window_ms));
        assert_eq!(reopened[0].incident.id, id);
        assert_eq!(reopened[0].incident.status, IncidentStatus::Observed);
        assert_eq!(reopened[0].incident.reopen_count, 1);
        assert!(reopened[0].notify());
        // Resolve again, then come back after the reopen window: a new incident.
        let second_resolve = resolved_at + config.reopen_window_ms + resolved_at;
        c.tick(second_resolve);
        c.tick(second_resolve + config.reopen_window_ms + 1);
        let fresh = c.ingest(make(second_resolve + config.reopen_window_ms + 2));
        assert_ne!(fresh[0].incident.id, id);
        assert_eq!(fresh[0].incident.reopen_count, 0);
    }

    #[test]
    fn flapping_is_held_open_and_not_renotified() {
        let config = CorrelatorConfig {
            stale_after_ms: MIN,
            resolve_after_healthy_ms: MIN,
            flap_threshold: 2,
            ..CorrelatorConfig::default()
        };
        let mut c = Correlator::new(config.clone());
        let make = |at| {
            cand(
                IncidentType::ErrorRateSpike,
                Scope::Deployment,
                "api",
                Some("shop"),
                None,
                at,
            )
        };
        let id = c.ingest(make(0))[0].incident.id.clone();
        let mut notified_reopens = 0;
        let mut t = 0;
        for _ in 0..4 {
            // Healthy long enough to resolve (unless held), then firing again.
            for step in 1..=3 {
                c.tick(t + step * MIN);
            }
            t += 4 * MIN;
            let changes = c.ingest(make(t));
            let change = changes.iter().find(|ch| ch.incident.id == id).unwrap();
            if change
                .timeline
                .iter()
                .any(|e| e.kind == TimelineKind::Reopened && e.notify)
            {
                notified_reopens += 1;
            }
        }
        let incident = c.incidents().find(|i| i.id == id).unwrap();
        assert!(incident.flapping);
        assert_eq!(notified_reopens, 1, "only the first reopen notifies");
        assert_eq!(open_incidents(&c).len(), 1);
        // Held open: the usual resolve delay no longer resolves it.
        c.tick(t + 3 * MIN);
        let incident = c.incidents().find(|i| i.id == id).unwrap();
        assert_eq!(incident.status, IncidentStatus::Recovering);
        c.tick(t + MIN + config.flap_hold_ms);
        let incident = c.incidents().find(|i| i.id == id).unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
    }

    #[test]
    fn operators_move_status_and_bad_moves_are_refused() {
        let mut c = Correlator::default();
        let id = c.ingest(cand(
            IncidentType::CrashLoop,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            0,
        ))[0]
            .incident
            .id
            .clone();
        let change = c.set_status(&id, IncidentStatus::Triaged, 10).unwrap();
        assert_eq!(change.incident.status, IncidentStatus::Triaged);
        assert_eq!(change.timeline[0].seq, 1);
        assert!(c.set_status(&id, IncidentStatus::Recovering, 11).is_err());
        assert!(
            c.set_status("inc-missing", IncidentStatus::Triaged, 11)
                .is_err()
        );
        c.set_status(&id, IncidentStatus::Escalated, 12).unwrap();
        // Healthy → recovering → back to escalated when it fires again.
        c.tick(c.config().stale_after_ms);
        let back = c.ingest(cand(
            IncidentType::CrashLoop,
            Scope::Deployment,
            "api",
            Some("shop"),
            None,
            c.config().stale_after_ms + 1,
        ));
        assert_eq!(back[0].incident.status, IncidentStatus::Escalated);
    }

    #[test]
    fn summary_is_deterministic_and_cites_evidence() {
        let mut candidate = cand(
            IncidentType::MemoryLeak,
            Scope::Deployment,
            "payments-api",
            Some("shop"),
            None,
            0,
        );
        candidate.evidence.metrics.push(MetricEvidence {
            id: "m1".into(),
            series: model::LabelSet::from_pairs([(
                "__name__",
                "container_memory_working_set_bytes",
            )])
            .unwrap(),
            window: "15m".into(),
            aggregate: "slope".into(),
            observed: 1234.5678,
            expected: Some(0.0),
            rule: "memory_leak_slope".into(),
            at_ms: 0,
            summary: None,
        });
        let mut c = Correlator::default();
        let summary = c.ingest(candidate)[0].incident.summary.clone();
        assert_eq!(
            summary,
            "Memory leak on deployment shop/payments-api; container_memory_working_set_bytes slope 1234.568 over 15m (expected 0)"
        );
    }

    #[test]
    fn summary_speaks_the_rules_words_when_it_has_them() {
        let mut candidate = cand(
            IncidentType::MemoryLeak,
            Scope::Deployment,
            "payments-api",
            Some("shop"),
            None,
            0,
        );
        candidate.evidence.metrics.push(MetricEvidence {
            id: "m1".into(),
            series: model::LabelSet::default(),
            window: "45m".into(),
            aggregate: "seconds_to_limit".into(),
            observed: 14_400.0,
            expected: Some(86_400.0),
            rule: "memory_leak".into(),
            at_ms: 0,
            summary: Some("at 2 MiB/min payments-api reaches its 1 GiB limit in about 4 h".into()),
        });
        let summary = Correlator::default().ingest(candidate)[0]
            .incident
            .summary
            .clone();
        assert_eq!(
            summary,
            "Memory leak on deployment shop/payments-api: at 2 MiB/min payments-api reaches its 1 GiB limit in about 4 h"
        );
    }
}
