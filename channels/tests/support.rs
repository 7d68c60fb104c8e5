//! Helpers: an in-memory application (the [`Operator`] the channels talk to, checking roles as
//! the application layer does), provider files on disk, events, and polling with a deadline.

use app::{Caller, Operation, Role};
use channels::{
    ApprovalBrief, ApprovalStatus, ChannelEvent, ChatUser, EventKind, EvidenceReport,
    IncidentBrief, Operator, OperatorError, StatusReport, Story, Summary, WhyReport,
};
use model::Severity;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the in-memory application holds and was asked.
#[derive(Debug, Default)]
pub(crate) struct MemState {
    pub(crate) incidents: Vec<IncidentBrief>,
    pub(crate) approvals: Vec<ApprovalBrief>,
    pub(crate) paused: bool,
    /// Every state change, as the audit would name it: `approved apr-1 by alice via ...`.
    pub(crate) audit: Vec<String>,
    /// `(provider, failing, detail)` of every delivery-failure report.
    pub(crate) delivery_failures: Vec<(String, bool, String)>,
    /// What a model would answer to free-form questions; `None`: no model configured.
    pub(crate) answer: Option<app::ask::Answer>,
    /// Questions asked of the model.
    pub(crate) questions: Vec<String>,
}

/// An in-memory application.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemOperator {
    pub(crate) state: Arc<Mutex<MemState>>,
}

fn check(caller: &Caller, op: Operation) -> Result<(), OperatorError> {
    app::authorize(caller, op).map_err(|e| OperatorError::Refused(e.to_string()))
}

impl MemOperator {
    pub(crate) fn with_crash_loop() -> Self {
        let op = MemOperator::default();
        {
            let mut s = op.state.lock();
            s.incidents.push(incident());
            s.approvals.push(approval());
        }
        op
    }

    fn decide(
        &self,
        caller: &Caller,
        id: &str,
        status: ApprovalStatus,
        note: Option<String>,
        via: &ChatUser,
    ) -> Result<ApprovalBrief, OperatorError> {
        check(
            caller,
            if status == ApprovalStatus::Approved {
                Operation::Approve
            } else {
                Operation::Reject
            },
        )?;
        let mut s = self.state.lock();
        let a = s
            .approvals
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| OperatorError::NotFound(format!("no approval {id:?}")))?;
        if a.status != ApprovalStatus::Pending {
            return Err(OperatorError::Conflict(format!(
                "approval {id} is already {}",
                a.status.as_str()
            )));
        }
        a.status = status;
        a.answered_by = Some(format!("{} via {}", caller.name, via.describe()));
        a.note = note;
        let a = a.clone();
        s.audit.push(format!(
            "{} {id} by {} via {}",
            status.as_str(),
            caller.name,
            via.describe()
        ));
        Ok(a)
    }
}

pub(crate) fn incident() -> IncidentBrief {
    IncidentBrief {
        id: "inc-3b881be00b61c2aa".into(),
        incident_type: "crash_loop".into(),
        domain: "application_services".into(),
        severity: Severity::Critical,
        status: "observed".into(),
        target: "deployment/shop/payments-api".into(),
        target_name: "payments-api".into(),
        summary: "Crash loop on deployment shop/payments-api; kube_pod_container_status_waiting_reason max 1 over 5m".into(),
        sources: vec!["rules".into()],
        environment: Some("prod".into()),
        opened_at_ms: 1_700_000_000_000,
    }
}

pub(crate) fn approval() -> ApprovalBrief {
    ApprovalBrief {
        id: "apr-0123456789abcdef".into(),
        incident_id: incident().id,
        action: "restart_deployment".into(),
        target: "deployment/shop/payments-api".into(),
        clause: "actions.restart_deployment".into(),
        requested_ms: now_ms(),
        expires_ms: now_ms() + 3_600_000,
        status: ApprovalStatus::Pending,
        answered_by: None,
        note: None,
        undo: String::new(),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn opened(key_suffix: &str) -> ChannelEvent {
    ChannelEvent {
        key: format!("incident/{}/opened/{key_suffix}", incident().id),
        kind: EventKind::Opened,
        incident: Some(incident()),
        approval: None,
        text: format!("Opened: {}.", incident().summary),
        at_ms: now_ms(),
    }
}

pub(crate) fn asked() -> ChannelEvent {
    ChannelEvent::approval_requested(approval(), Some(incident()), now_ms())
}

pub(crate) fn caller(name: &str, role: Role, policy_role: Option<&str>) -> Caller {
    Caller {
        name: name.into(),
        role,
        policy_role: policy_role.map(str::to_owned),
    }
}

impl Operator for MemOperator {
    async fn status(&self, caller: &Caller) -> Result<StatusReport, OperatorError> {
        check(caller, Operation::Status)?;
        let s = self.state.lock();
        Ok(StatusReport {
            paused: s.paused,
            paused_by: None,
            open: s.incidents.clone(),
            pending: s
                .approvals
                .iter()
                .filter(|a| a.status == ApprovalStatus::Pending)
                .cloned()
                .collect(),
        })
    }

    async fn recent(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<IncidentBrief>, OperatorError> {
        check(caller, Operation::ListIncidents)?;
        Ok(self
            .state
            .lock()
            .incidents
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn story(&self, caller: &Caller, id: &str) -> Result<Story, OperatorError> {
        check(caller, Operation::GetIncident)?;
        let incident = self
            .incident(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no incident {id:?}")))?;
        Ok(Story {
            timeline: vec![(
                incident.opened_at_ms,
                "opened by the crash-loop rule".into(),
            )],
            actions: vec![],
            incident,
        })
    }

    async fn evidence(&self, caller: &Caller, id: &str) -> Result<EvidenceReport, OperatorError> {
        check(caller, Operation::GetIncident)?;
        let incident = self
            .incident(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no incident {id:?}")))?;
        Ok(EvidenceReport {
            incident,
            items: vec![(
                "ev-1".into(),
                "kube_pod_container_status_waiting_reason max 1 over 5m".into(),
            )],
        })
    }

    async fn why(
        &self,
        caller: &Caller,
        verb: &str,
        target: &str,
    ) -> Result<WhyReport, OperatorError> {
        check(caller, Operation::ListActions)?;
        if verb != "restart" || target != "payments-api" {
            return Err(OperatorError::NotFound(format!(
                "I did not {verb} {target}"
            )));
        }
        Ok(WhyReport {
            action: "restart_deployment".into(),
            target: "deployment/shop/payments-api".into(),
            incident: incident(),
            evidence: vec![("ev-1".into(), "waiting reason CrashLoopBackOff".into())],
            clause: "actions.restart_deployment".into(),
            verdict: "needs_approval".into(),
            reason: "restarts need a person in prod".into(),
            answered_by: None,
            outcome: "waiting for approval".into(),
        })
    }

    async fn approve(
        &self,
        caller: &Caller,
        id: &str,
        via: &ChatUser,
    ) -> Result<ApprovalBrief, OperatorError> {
        self.decide(caller, id, ApprovalStatus::Approved, None, via)
    }

    async fn reject(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
        via: &ChatUser,
    ) -> Result<ApprovalBrief, OperatorError> {
        self.decide(
            caller,
            id,
            ApprovalStatus::Rejected,
            Some(reason.to_owned()),
            via,
        )
    }

    async fn pause(&self, caller: &Caller, via: &ChatUser) -> Result<(), OperatorError> {
        check(caller, Operation::Pause)?;
        let mut s = self.state.lock();
        s.paused = true;
        s.audit
            .push(format!("paused by {} via {}", caller.name, via.describe()));
        Ok(())
    }

    async fn resume(&self, caller: &Caller, via: &ChatUser) -> Result<(), OperatorError> {
        check(caller, Operation::Resume)?;
        let mut s = self.state.lock();
        s.paused = false;
        s.audit
            .push(format!("resumed by {} via {}", caller.name, via.describe()));
        Ok(())
    }

    async fn silence(
        &self,
        caller: &Caller,
        id: &str,
        duration: Duration,
        via: &ChatUser,
    ) -> Result<String, OperatorError> {
        check(caller, Operation::Silence)?;
        self.state.lock().audit.push(format!(
            "silenced {id} for {}s by {} via {}",
            duration.as_secs(),
            caller.name,
            via.describe()
        ));
        Ok(format!(
            "Silenced {id} for {} min.",
            duration.as_secs() / 60
        ))
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalBrief>, OperatorError> {
        Ok(self
            .state
            .lock()
            .approvals
            .iter()
            .find(|a| a.id == id)
            .cloned())
    }

    async fn pending_approvals(&self) -> Result<Vec<ApprovalBrief>, OperatorError> {
        Ok(self
            .state
            .lock()
            .approvals
            .iter()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .cloned()
            .collect())
    }

    async fn incident(&self, id: &str) -> Result<Option<IncidentBrief>, OperatorError> {
        Ok(self
            .state
            .lock()
            .incidents
            .iter()
            .find(|i| i.id == id)
            .cloned())
    }

    fn answers_questions(&self) -> bool {
        self.state.lock().answer.is_some()
    }

    async fn ask(
        &self,
        caller: &Caller,
        question: &str,
    ) -> Result<Option<app::ask::Answer>, OperatorError> {
        check(caller, Operation::GetDraft)?;
        let mut s = self.state.lock();
        s.questions.push(question.to_owned());
        Ok(s.answer.clone())
    }

    async fn delivery_failure(
        &self,
        provider: &str,
        failing: bool,
        detail: &str,
    ) -> Result<(), OperatorError> {
        self.state
            .lock()
            .delivery_failures
            .push((provider.to_owned(), failing, detail.to_owned()));
        Ok(())
    }

    async fn summary(&self, since_ms: i64) -> Result<Summary, OperatorError> {
        let s = self.state.lock();
        Ok(Summary {
            since_ms,
            until_ms: now_ms(),
            opened: s.incidents.len() as u64,
            resolved: 0,
            open: s.incidents.clone(),
            actions_executed: 0,
            approvals_pending: s
                .approvals
                .iter()
                .filter(|a| a.status == ApprovalStatus::Pending)
                .count() as u64,
            mean_time_to_resolve_ms: None,
            paused: s.paused,
        })
    }
}

/// Writes a file of mode 0600 (secrets and provider files).
pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// `[channels]` TOML (its `base_dir` set to `dir`), loaded.
pub(crate) fn load(dir: &Path, toml_text: &str) -> channels::Loaded {
    try_load(dir, toml_text).unwrap()
}

/// `[channels]` TOML loaded, or why not.
pub(crate) fn try_load(
    dir: &Path,
    toml_text: &str,
) -> Result<channels::Loaded, channels::ChannelError> {
    #[derive(serde::Deserialize)]
    struct Main {
        channels: channels::ChannelsConfig,
    }
    let mut config = toml::from_str::<Main>(toml_text).unwrap().channels;
    config.base_dir = dir.to_owned();
    channels::config::load(&config)
}

/// Polls `check` until it gives `Some`, or panics after `timeout` naming `what`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process killed when the test ends.
pub(crate) struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback HTTP receiver keeping every request (headers and body) and answering with the
/// statuses queued in `answers` (then 200).
pub(crate) mod receiver {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use parking_lot::Mutex;
    use std::collections::VecDeque;
    use std::sync::Arc;

    #[derive(Debug, Default)]
    pub(crate) struct Received {
        pub(crate) requests: Vec<(HeaderMap, Bytes)>,
        /// `(status, Retry-After)` to answer next.
        pub(crate) answers: VecDeque<(u16, Option<u32>)>,
    }

    pub(crate) type Shared = Arc<Mutex<Received>>;

    pub(crate) async fn start(path: &'static str) -> (String, Shared) {
        let shared: Shared = Arc::default();
        let app = axum::Router::new()
            .route(
                path,
                axum::routing::post(
                    |State(s): State<Shared>, headers: HeaderMap, body: Bytes| async move {
                        let mut s = s.lock();
                        let (status, retry) = s.answers.pop_front().unwrap_or((200, None));
                        if status < 300 {
                            s.requests.push((headers, body));
                        }
                        let mut out = HeaderMap::new();
                        if let Some(r) = retry {
                            out.insert("retry-after", r.to_string().parse().unwrap());
                        }
                        (StatusCode::from_u16(status).unwrap(), out, "{}")
                    },
                ),
            )
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, shared)
    }
}
