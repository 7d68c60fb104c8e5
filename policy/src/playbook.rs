//! Playbooks: a remediation ladder per incident class, as TOML — observe, notify, take the
//! low-risk step, and only if the problem persists ask for the disruptive one.
//!
//! Each rung names a catalogue action, what it acts on (resolved from the incident and the
//! cluster when the rung is reached), how long the incident must still be active after the
//! previous rung before it is proposed, and how much the ladder lets it do on its own. The
//! policy still decides every rung; a ladder can only make a rung stricter (ask, or merely
//! suggest), never make a disruptive or human-only action automatic — such a file is refused
//! with `FILE:LINE: reason`, like a policy.

use crate::file::{Collector, IssueKind, PolicyErrors, PolicyIssue, Seg, glob_match};
use model::{Action, IncidentType, PodPhase, RiskClass, TargetKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The ladders shipped with srebot, one per V1 incident class.
pub const BUILTIN: &str = include_str!("../playbooks/builtin.toml");

/// Name the built-in ladders are reported under.
pub const BUILTIN_FILE: &str = "builtin playbooks";

/// Longest wait a rung may ask for before it is proposed.
const MAX_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Most rungs in one ladder.
const MAX_STEPS: usize = 16;

/// How much a ladder lets a rung do on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepMode {
    /// The policy decides (automatic where it says so, else it asks).
    Policy,
    /// Runs on its own where the policy allows; only for read-only and auto-class actions.
    Auto,
    /// Always asks a person, even where the policy would run it on its own.
    Approval,
    /// Shown to operators as a recommendation; never decided, never run.
    Suggest,
}

impl StepMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StepMode::Policy => "policy",
            StepMode::Auto => "auto",
            StepMode::Approval => "approval",
            StepMode::Suggest => "suggest",
        }
    }
}

/// What a rung acts on, resolved when the rung is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepTarget {
    /// The incident itself (notify, collect evidence).
    Incident,
    /// The workload the incident is about: its Deployment, StatefulSet or DaemonSet.
    Workload,
    /// The node the incident is about.
    Node,
    /// CronJobs whose Jobs ran pods on the incident's node.
    NodeCronJobs,
    /// Deployments and StatefulSets with pods on the incident's node (narrow it with
    /// `namespaces`).
    NodeWorkloads,
    /// The workload behind the unavailable dependency's Service.
    Dependency,
    /// The release (Flux `HelmRelease`) that rendered the incident's workload.
    Release,
    /// The drifted ConfigMap, with the key and the value it should have.
    ConfigMap,
    /// The CronJob whose Jobs the incident is about.
    CronJob,
}

impl StepTarget {
    pub const ALL: [StepTarget; 9] = [
        StepTarget::Incident,
        StepTarget::Workload,
        StepTarget::Node,
        StepTarget::NodeCronJobs,
        StepTarget::NodeWorkloads,
        StepTarget::Dependency,
        StepTarget::Release,
        StepTarget::ConfigMap,
        StepTarget::CronJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepTarget::Incident => "incident",
            StepTarget::Workload => "workload",
            StepTarget::Node => "node",
            StepTarget::NodeCronJobs => "node_cron_jobs",
            StepTarget::NodeWorkloads => "node_workloads",
            StepTarget::Dependency => "dependency",
            StepTarget::Release => "release",
            StepTarget::ConfigMap => "config_map",
            StepTarget::CronJob => "cron_job",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        StepTarget::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The kinds of object this target can resolve to.
    pub fn kinds(self) -> &'static [TargetKind] {
        match self {
            StepTarget::Incident => &[TargetKind::Incident],
            StepTarget::Workload | StepTarget::Dependency | StepTarget::NodeWorkloads => &[
                TargetKind::Deployment,
                TargetKind::StatefulSet,
                TargetKind::DaemonSet,
            ],
            StepTarget::Node => &[TargetKind::Node],
            StepTarget::NodeCronJobs | StepTarget::CronJob => &[TargetKind::CronJob],
            StepTarget::Release => &[TargetKind::Release, TargetKind::Application],
            StepTarget::ConfigMap => &[TargetKind::ConfigMap],
        }
    }
}

/// What must hold for a rung to be proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A deploy, image or config change of the target preceded the incident.
    ChangePreceded,
    /// No such change preceded it.
    NoChangePreceded,
    /// No earlier rung of this climb rolled the workload back (the rollback rung was skipped
    /// or found nothing to roll back to).
    NotRolledBack,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ChangePreceded => "change_preceded",
            Condition::NoChangePreceded => "no_change_preceded",
            Condition::NotRolledBack => "not_rolled_back",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Condition::ChangePreceded,
            Condition::NoChangePreceded,
            Condition::NotRolledBack,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// How a scaling rung sets the replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replicas {
    /// Exactly this many.
    To(u32),
    /// The live count changed by this much (never below zero).
    By(i32),
}

impl Replicas {
    /// The count to set, from the live one.
    pub fn from_live(self, live: u32) -> u32 {
        match self {
            Replicas::To(n) => n,
            Replicas::By(d) => u32::try_from((i64::from(live) + i64::from(d)).max(0)).unwrap_or(0),
        }
    }
}

/// The action a rung names: a catalogue action with its fixed parameters, or `restart` /
/// `scale`, which become the action for the kind of workload the target resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    Restart,
    Scale {
        replicas: Replicas,
    },
    /// Rolls the Deployment back to the revision before the current one.
    RollbackPrevious,
    /// Sets the drifted key back to the value it should have.
    PatchDrifted,
    /// A catalogue action whose parameters the file fixes.
    Fixed(Action),
}

impl StepAction {
    /// The name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            StepAction::Restart => "restart",
            StepAction::Scale { .. } => "scale",
            StepAction::RollbackPrevious => "rollback_deployment",
            StepAction::PatchDrifted => "patch_config",
            StepAction::Fixed(a) => a.name(),
        }
    }

    /// The risk class of what it becomes (restarts and scaling ask for approval).
    pub fn risk(&self) -> RiskClass {
        match self {
            StepAction::Restart
            | StepAction::Scale { .. }
            | StepAction::RollbackPrevious
            | StepAction::PatchDrifted => RiskClass::Approval,
            StepAction::Fixed(a) => a.risk(),
        }
    }

    /// The concrete action for a target of `kind`, with the live replica count for scaling;
    /// `None` when the action does not apply to that kind.
    pub fn for_kind(&self, kind: TargetKind, live_replicas: Option<u32>) -> Option<Action> {
        Some(match (self, kind) {
            (StepAction::Restart, TargetKind::Deployment) => Action::RestartDeployment,
            (StepAction::Restart, TargetKind::StatefulSet) => Action::RestartStatefulSet,
            (StepAction::Restart, TargetKind::DaemonSet) => Action::RestartDaemonSet,
            (StepAction::Scale { replicas }, TargetKind::Deployment) => Action::ScaleDeployment {
                replicas: replicas.from_live(live_replicas?),
            },
            (StepAction::Scale { replicas }, TargetKind::StatefulSet) => Action::ScaleStatefulSet {
                replicas: replicas.from_live(live_replicas?),
            },
            // A release Argo CD owns is synced through its Application.
            (StepAction::Fixed(Action::ReconcileRelease), TargetKind::Application) => {
                Action::SyncApplication
            }
            (StepAction::Fixed(a), k) if a.target_kind() == k => a.clone(),
            _ => return None,
        })
    }
}

impl fmt::Display for StepAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepAction::Scale {
                replicas: Replicas::To(n),
            } => write!(f, "scale(replicas={n})"),
            StepAction::Scale {
                replicas: Replicas::By(d),
            } => write!(f, "scale(replicas {d:+})"),
            StepAction::Fixed(a) => write!(f, "{a}"),
            other => f.write_str(other.name()),
        }
    }
}

/// One rung of a ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub action: StepAction,
    pub target: StepTarget,
    pub mode: StepMode,
    /// How long the incident must still be active after the previous rung was reached (in
    /// the incident source's event time); zero for rungs taken together.
    #[serde(serialize_with = "model::duration::serialize_short")]
    pub after: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// Resolved targets must be in one of these namespaces (globs); empty for any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// What operators read beside the rung.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// 1-based line of the rung in its file.
    pub line: usize,
}

impl Step {
    /// Whether a resolved target's namespace passes the rung's `namespaces`.
    pub fn namespace_allowed(&self, namespace: Option<&str>) -> bool {
        self.namespaces.is_empty()
            || namespace.is_some_and(|ns| self.namespaces.iter().any(|p| glob_match(p, ns)))
    }
}

/// The rungs for one incident class, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ladder {
    pub incident_type: IncidentType,
    pub steps: Vec<Step>,
    /// The file it came from (a path, or [`BUILTIN_FILE`]).
    pub file: String,
}

/// Every ladder in force: the built-in ones, each replaced by a file's ladder for the same
/// incident class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Playbooks {
    ladders: BTreeMap<IncidentType, Ladder>,
}

impl Playbooks {
    /// The built-in ladders.
    pub fn builtin() -> Self {
        // Checked by this crate's tests; an invalid built-in file is a build defect.
        Self::from_toml_str(BUILTIN, BUILTIN_FILE).unwrap_or_else(|errors| {
            panic!("the built-in playbooks are invalid:\n{errors}");
        })
    }

    /// Parses and validates one playbook file.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, PolicyErrors> {
        validate(text, file)
    }

    /// The built-in ladders with `file`'s replacing them class by class.
    pub fn builtin_with(file: &Path) -> Result<Self, PolicyErrors> {
        let theirs = check_file(file)?;
        let mut merged = Self::builtin();
        merged.ladders.extend(theirs.ladders);
        Ok(merged)
    }

    /// The ladder for an incident class.
    pub fn ladder(&self, incident_type: IncidentType) -> Option<&Ladder> {
        self.ladders.get(&incident_type)
    }

    pub fn ladders(&self) -> impl Iterator<Item = &Ladder> {
        self.ladders.values()
    }
}

/// Reads and validates a playbook file (alone, without the built-in ladders).
pub fn check_file(path: &Path) -> Result<Playbooks, PolicyErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => validate(&text, &file),
        Err(err) => Err(PolicyErrors {
            issues: vec![PolicyIssue {
                file,
                line: 0,
                kind: IssueKind::Io,
                reason: format!("cannot read the playbook file: {err}"),
            }],
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The file's schema, as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookFile {
    #[serde(default)]
    ladder: Vec<LadderFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    incident: String,
    #[serde(default)]
    step: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    action: String,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    say: Option<String>,
    // Parameters.
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    replicas: Option<toml::Value>,
    #[serde(default)]
    template: Option<String>,
}

fn validate(text: &str, file: &str) -> Result<Playbooks, PolicyErrors> {
    crate::file::checked(text, file, |c, parsed: PlaybookFile| {
        check_ladders(c, parsed, text, file)
    })
}

fn check_ladders(c: &mut Collector<'_>, parsed: PlaybookFile, text: &str, file: &str) -> Playbooks {
    let mut ladders = BTreeMap::new();
    for (li, ladder) in parsed.ladder.into_iter().enumerate() {
        let at = |key: &'static str| [Seg::Key("ladder"), Seg::Index(li), Seg::Key(key)];
        let Some(incident_type) = IncidentType::from_name(&ladder.incident) else {
            c.at_path(
                &at("incident"),
                IssueKind::Invalid,
                format!("unknown incident class {:?}", ladder.incident),
            );
            continue;
        };
        if ladder.step.len() > MAX_STEPS {
            c.at_path(
                &at("step"),
                IssueKind::Invalid,
                format!(
                    "ladder `{incident_type}` has {} rungs; at most {MAX_STEPS}",
                    ladder.step.len()
                ),
            );
        }
        let mut steps = Vec::new();
        for (si, step) in ladder.step.into_iter().enumerate() {
            let path = |key: &'static str| {
                [
                    Seg::Key("ladder"),
                    Seg::Index(li),
                    Seg::Key("step"),
                    Seg::Index(si),
                    Seg::Key(key),
                ]
            };
            let whole = [
                Seg::Key("ladder"),
                Seg::Index(li),
                Seg::Key("step"),
                Seg::Index(si),
            ];
            let offset = c
                .root
                .and_then(|r| crate::file::span_of(r, &whole))
                .map_or(0, |s| s.start);
            let line = crate::file::line_of(text, offset);
            let rung = format!("ladder `{incident_type}` rung {}", si + 1);
            if let Some(step) = check_step(c, &rung, step, &path, line) {
                steps.push(step);
            }
        }
        if ladders.contains_key(&incident_type) {
            c.at_path(
                &at("incident"),
                IssueKind::Invalid,
                format!("a second ladder for `{incident_type}`; one per incident class"),
            );
            continue;
        }
        ladders.insert(
            incident_type,
            Ladder {
                incident_type,
                steps,
                file: file.to_owned(),
            },
        );
    }
    Playbooks { ladders }
}

fn check_step<'p>(
    c: &mut Collector<'_>,
    rung: &str,
    step: StepFile,
    path: &dyn Fn(&'static str) -> [Seg<'p>; 5],
    line: usize,
) -> Option<Step> {
    let before = c.issues.len();
    let phase = match step.phase.as_deref() {
        None => None,
        Some("Succeeded") => Some(PodPhase::Succeeded),
        Some("Failed") => Some(PodPhase::Failed),
        Some(other) => {
            c.at_path(
                &path("phase"),
                IssueKind::Invalid,
                format!("{rung}: phase {other:?}: only finished pods, `Succeeded` or `Failed`"),
            );
            None
        }
    };
    let replicas = match &step.replicas {
        None => None,
        Some(toml::Value::Integer(n)) => u32::try_from(*n).ok().map(Replicas::To),
        Some(toml::Value::String(s)) if s.starts_with(['+', '-']) => {
            s.parse::<i32>().ok().map(Replicas::By)
        }
        Some(_) => None,
    };
    if step.replicas.is_some() && replicas.is_none() {
        c.at_path(
            &path("replicas"),
            IssueKind::Invalid,
            format!(
                "{rung}: replicas is a count (`replicas = 0`) or a change (`replicas = \"-1\"`)"
            ),
        );
    }
    let needs = |c: &mut Collector<'_>, what: &str| {
        c.at_path(
            &path("action"),
            IssueKind::Invalid,
            format!("{rung}: `{}` needs `{what}`", step.action),
        );
    };
    let action = match step.action.as_str() {
        "restart" => Some(StepAction::Restart),
        "scale" => match replicas {
            Some(replicas) => Some(StepAction::Scale { replicas }),
            None => {
                needs(c, "replicas");
                None
            }
        },
        "rollback_deployment" => Some(StepAction::RollbackPrevious),
        "patch_config" => Some(StepAction::PatchDrifted),
        "delete_pods" | "delete_node_pods" => match phase {
            Some(phase) if step.action == "delete_pods" => {
                Some(StepAction::Fixed(Action::DeletePods { phase }))
            }
            Some(phase) => Some(StepAction::Fixed(Action::DeleteNodePods { phase })),
            None => {
                needs(c, "phase");
                None
            }
        },
        "scale_deployment" | "scale_stateful_set" => match replicas {
            Some(replicas) => Some(StepAction::Scale { replicas }),
            None => {
                needs(c, "replicas");
                None
            }
        },
        "run_job" => match &step.template {
            Some(template) => Some(StepAction::Fixed(Action::RunJob {
                template: template.clone(),
            })),
            None => {
                needs(c, "template");
                None
            }
        },
        name => {
            let parsed: Option<Action> =
                serde_json::from_value(serde_json::json!({ "type": name })).ok();
            match parsed {
                Some(a) => Some(StepAction::Fixed(a)),
                None if Action::class_of_name(name).is_some() => {
                    c.at_path(
                        &path("action"),
                        IssueKind::Invalid,
                        format!("{rung}: `{name}` takes parameters a ladder cannot fix"),
                    );
                    None
                }
                None => {
                    c.at_path(
                        &path("action"),
                        IssueKind::Invalid,
                        format!(
                            "{rung}: unknown action {name:?}; one of restart, scale, {}",
                            Action::NAMES.join(", ")
                        ),
                    );
                    None
                }
            }
        }
    };
    let target = match step.target.as_deref() {
        None => action.as_ref().map(default_target),
        Some(name) => match StepTarget::from_name(name) {
            Some(t) => Some(t),
            None => {
                c.at_path(
                    &path("target"),
                    IssueKind::Invalid,
                    format!(
                        "{rung}: unknown target {name:?}; one of {}",
                        StepTarget::ALL.map(StepTarget::as_str).join(", ")
                    ),
                );
                None
            }
        },
    };
    if let (Some(action), Some(target)) = (&action, target) {
        let fits = target
            .kinds()
            .iter()
            .any(|&k| action.for_kind(k, Some(1)).is_some())
            || matches!(
                (action, target),
                (StepAction::RollbackPrevious, StepTarget::Workload)
                    | (StepAction::PatchDrifted, StepTarget::ConfigMap)
            );
        if !fits {
            c.at_path(
                &path("target"),
                IssueKind::Invalid,
                format!(
                    "{rung}: `{}` cannot act on a {} target",
                    action.name(),
                    target.as_str()
                ),
            );
        }
    }
    let mode = match step.mode.as_deref() {
        None | Some("policy") => StepMode::Policy,
        Some("auto") => StepMode::Auto,
        Some("approval") => StepMode::Approval,
        Some("suggest") => StepMode::Suggest,
        Some(other) => {
            c.at_path(
                &path("mode"),
                IssueKind::Invalid,
                format!("{rung}: mode {other:?}; one of policy, auto, approval, suggest"),
            );
            StepMode::Policy
        }
    };
    if let Some(action) = &action {
        let risk = action.risk();
        if risk == RiskClass::HumanOnly && mode != StepMode::Suggest {
            c.at_path(
                &path("mode"),
                IssueKind::HumanOnly,
                format!(
                    "{rung}: `{}` is human only: a ladder may only suggest it (mode = \"suggest\")",
                    action.name()
                ),
            );
        } else if mode == StepMode::Auto && risk > RiskClass::Auto {
            c.at_path(
                &path("mode"),
                IssueKind::ApprovalBypass,
                format!(
                    "{rung}: `{}` is disruptive ({risk} class) and can never be automatic in a \
                     ladder; leave it to the policy (mode = \"policy\") or ask (mode = \"approval\")",
                    action.name()
                ),
            );
        }
    }
    let duration = |c: &mut Collector<'_>, key: &'static str, text: Option<&str>| {
        let text = text?;
        match model::duration::parse(text) {
            Ok(d) if d <= MAX_AFTER => Some(d),
            Ok(_) => {
                c.at_path(
                    &path(key),
                    IssueKind::Invalid,
                    format!("{rung}: {key} {text:?} is over a day"),
                );
                None
            }
            Err(why) => {
                c.at_path(
                    &path(key),
                    IssueKind::Invalid,
                    format!("{rung}: {key} {text:?}: {why}"),
                );
                None
            }
        }
    };
    let after = duration(c, "after", step.after.as_deref()).unwrap_or_default();
    let when = match step.when.as_deref() {
        None => None,
        Some(name) => match Condition::from_name(name) {
            Some(cond) => Some(cond),
            None => {
                c.at_path(
                    &path("when"),
                    IssueKind::Invalid,
                    format!(
                        "{rung}: when {name:?}; one of change_preceded, no_change_preceded, \
                         not_rolled_back"
                    ),
                );
                None
            }
        },
    };
    if let Some(say) = &step.say
        && say.chars().count() > 300
    {
        c.at_path(
            &path("say"),
            IssueKind::Invalid,
            format!("{rung}: say is over 300 characters"),
        );
    }
    if c.issues.len() > before {
        return None;
    }
    Some(Step {
        action: action?,
        target: target?,
        mode,
        after,
        when,
        namespaces: step.namespaces,
        say: step.say,
        line,
    })
}

/// The target a rung acts on when the file does not say.
fn default_target(action: &StepAction) -> StepTarget {
    match action {
        StepAction::Restart | StepAction::Scale { .. } | StepAction::RollbackPrevious => {
            StepTarget::Workload
        }
        StepAction::PatchDrifted => StepTarget::ConfigMap,
        StepAction::Fixed(a) => match a.target_kind() {
            TargetKind::Node => StepTarget::Node,
            TargetKind::CronJob => StepTarget::CronJob,
            TargetKind::Release | TargetKind::Application => StepTarget::Release,
            TargetKind::ConfigMap => StepTarget::ConfigMap,
            TargetKind::Deployment | TargetKind::StatefulSet | TargetKind::DaemonSet => {
                StepTarget::Workload
            }
            _ => StepTarget::Incident,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_ladders_are_valid_and_cover_the_v1_classes() {
        let books = Playbooks::builtin();
        for t in [
            IncidentType::NodeDiskPressure,
            IncidentType::ImagePullFailure,
            IncidentType::DependencyUnavailable,
            IncidentType::ConfigDrift,
            IncidentType::CrashLoop,
            IncidentType::OomKilled,
            IncidentType::MemoryLeak,
            IncidentType::DeploymentDegraded,
            IncidentType::LatencySpike,
            IncidentType::ErrorRateSpike,
            IncidentType::JobFailures,
            IncidentType::ControllerChurn,
        ] {
            let ladder = books
                .ladder(t)
                .unwrap_or_else(|| panic!("no ladder for {t}"));
            assert!(!ladder.steps.is_empty(), "{t}");
            for s in &ladder.steps {
                assert!(
                    s.action.risk() <= RiskClass::Auto || s.mode != StepMode::Auto,
                    "{t}: {s:?}"
                );
            }
        }
    }

    #[test]
    fn a_destructive_rung_made_automatic_is_refused_with_its_line() {
        let text = "[[ladder]]\nincident = \"node_disk_pressure\"\n\n[[ladder.step]]\naction = \"notify\"\n\n[[ladder.step]]\naction = \"drain_node\"\nmode = \"auto\"\n";
        let err = Playbooks::from_toml_str(text, "mine.toml").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("mine.toml:9: "), "{shown}");
        assert!(shown.contains("can never be automatic"), "{shown}");
        let human = "[[ladder]]\nincident = \"config_drift\"\n[[ladder.step]]\naction = \"delete_namespace\"\ntarget = \"incident\"\n";
        let err = Playbooks::from_toml_str(human, "h.toml").unwrap_err();
        assert!(err.to_string().contains("human only"), "{err}");
    }

    #[test]
    fn bad_rungs_each_name_their_line_and_reason() {
        let text = r#"
[[ladder]]
incident = "crash_loop"

[[ladder.step]]
action = "scale"

[[ladder.step]]
action = "restart"
target = "node"

[[ladder.step]]
action = "notify"
after = "soon"

[[ladder.step]]
action = "reboot_everything"

[[ladder]]
incident = "cosmic_rays"
"#;
        let err = Playbooks::from_toml_str(text, "p.toml").unwrap_err();
        let lines: Vec<usize> = err.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![6, 10, 14, 17, 20], "{err}");
        let shown = err.to_string();
        assert!(shown.contains("`scale` needs `replicas`"), "{shown}");
        assert!(shown.contains("cannot act on a node target"), "{shown}");
        assert!(
            shown.contains("unknown action \"reboot_everything\""),
            "{shown}"
        );
        assert!(
            shown.contains("unknown incident class \"cosmic_rays\""),
            "{shown}"
        );
    }

    #[test]
    fn a_file_replaces_the_builtin_ladder_of_its_class_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            "[[ladder]]\nincident = \"crash_loop\"\n[[ladder.step]]\naction = \"notify\"\n",
        )
        .unwrap();
        let books = Playbooks::builtin_with(&path).unwrap();
        let crash = books.ladder(IncidentType::CrashLoop).unwrap();
        assert_eq!(crash.steps.len(), 1);
        assert_eq!(crash.file, path.display().to_string());
        assert_eq!(
            books.ladder(IncidentType::NodeDiskPressure),
            Playbooks::builtin().ladder(IncidentType::NodeDiskPressure)
        );
    }

    #[test]
    fn replicas_follow_the_live_count() {
        assert_eq!(Replicas::By(-1).from_live(3), 2);
        assert_eq!(Replicas::By(-5).from_live(3), 0);
        assert_eq!(Replicas::By(2).from_live(3), 5);
        assert_eq!(Replicas::To(0).from_live(3), 0);
    }
}
