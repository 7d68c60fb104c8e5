//! `srebot doctor`'s checks of a running deployment: what it depends on (senders, the data
//! dir and ledger, the audit key, Loki, the model, each cluster's watches and RBAC), each
//! with a plain verdict and what to fix.

use serde::Serialize;
use std::time::Duration;

use crate::{App, AppError, Caller, Operation, authorize};

/// A source whose newest sample is older than this is reported as no longer sending.
const STALE_AFTER_MS: i64 = 5 * 60 * 1000;

/// How long the Loki probe may take.
const LOKI_PROBE: Duration = Duration::from_secs(10);

/// One check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Works, but something is worth a look.
    Warn,
    /// Broken: the fix says what to do.
    Fail,
    /// Not configured (and not needed).
    Off,
}

/// One line of the doctor's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do; empty when nothing is.
    pub fix: String,
}

fn check(name: impl Into<String>, verdict: Verdict, detail: String, fix: &str) -> Check {
    Check {
        check: name.into(),
        verdict,
        detail,
        fix: fix.to_owned(),
    }
}

fn ago(ms: i64) -> String {
    crate::views::span_words(ms.max(0))
}

impl App {
    /// Runs every check of what this deployment depends on (admin: it reads configuration
    /// paths and asks each cluster what srebot may do). Channels are the server's to test.
    pub async fn doctor(&self, caller: &Caller) -> Result<Vec<Check>, AppError> {
        authorize(caller, Operation::Doctor)?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut out = self.ingest_checks(now);
        out.push(self.data_dir_check());
        out.push(self.ledger_check().await);
        out.push(self.audit_key_check());
        out.push(self.loki_check(now).await);
        out.push(self.model_check(caller).await);
        out.extend(self.cluster_checks().await);
        Ok(out)
    }

    /// Prometheus (and any sender) per source: when its newest sample was taken.
    fn ingest_checks(&self, now: i64) -> Vec<Check> {
        let lateness = self.config.windows.lateness_ms;
        let mut out = Vec::new();
        for (name, store) in self.sources.list() {
            if name == model::source::SELF_SOURCE {
                continue;
            }
            let newest = store.watermark_ms().map(|w| w + lateness);
            let stored = store.stored_total();
            out.push(match newest {
                Some(at) if now - at > STALE_AFTER_MS => check(
                    format!("ingest {name}"),
                    Verdict::Warn,
                    format!(
                        "{stored} samples stored; the newest was taken {} ago",
                        ago(now - at)
                    ),
                    "check the sender's remote_write queue (prometheus_remote_storage_samples_failed_total) and that it still reaches srebot",
                ),
                Some(at) => check(
                    format!("ingest {name}"),
                    Verdict::Ok,
                    format!(
                        "{stored} samples stored; the newest was taken {} ago",
                        ago(now - at)
                    ),
                    "",
                ),
                None => check(
                    format!("ingest {name}"),
                    Verdict::Warn,
                    "known, but nothing stored yet".to_owned(),
                    "",
                ),
            });
        }
        if out.is_empty() {
            out.push(check(
                "ingest",
                Verdict::Fail,
                "no remote_write has arrived from any Prometheus".to_owned(),
                "add the remote_write block of deploy/in-cluster/prometheus.yml to Prometheus, with an ingest token",
            ));
        }
        out
    }

    fn data_dir_check(&self) -> Check {
        let dir = &self.config.server.data_dir;
        let probe = dir.join(".doctor-probe");
        let written =
            std::fs::write(&probe, b"srebot doctor\n").and_then(|()| std::fs::remove_file(&probe));
        match written {
            Ok(()) => check(
                "data dir",
                Verdict::Ok,
                format!("{} is writable", dir.display()),
                "",
            ),
            Err(e) => check(
                "data dir",
                Verdict::Fail,
                format!("{} is not writable: {e}", dir.display()),
                "give srebot's user write access to the data dir (a PVC mounted at server.data_dir)",
            ),
        }
    }

    async fn ledger_check(&self) -> Check {
        let ledger = self.ledger();
        let backend = match ledger.backend() {
            incident::Backend::Sqlite => "SQLite",
            incident::Backend::Postgres => "PostgreSQL",
        };
        match ledger
            .summaries(&incident::IncidentFilter::default(), 1)
            .await
        {
            Ok(_) => check("ledger", Verdict::Ok, format!("{backend} answers"), ""),
            Err(e) => check(
                "ledger",
                Verdict::Fail,
                format!("{backend}: {}", model::error::chain(&e)),
                "check incidents.ledger_url and that the database accepts srebot's connections",
            ),
        }
    }

    fn audit_key_check(&self) -> Check {
        let Some(path) = &self.config.policy.audit_key_file else {
            return match &self.config.policy.file {
                Some(_) => check(
                    "audit key",
                    Verdict::Fail,
                    "a policy is set but no audit key".to_owned(),
                    "set policy.audit_key_file to at least 32 random bytes, mode 0600, outside the data dir",
                ),
                None => check(
                    "audit key",
                    Verdict::Off,
                    "no policy: no action is proposed, nothing is audited".to_owned(),
                    "",
                ),
            };
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                return check(
                    "audit key",
                    Verdict::Fail,
                    format!("{}: {e}", path.display()),
                    "mount the audit key where policy.audit_key_file says",
                );
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return check(
                    "audit key",
                    Verdict::Fail,
                    format!("{} has mode {mode:o}: others may read it", path.display()),
                    "chmod 0600 the audit key",
                );
            }
        }
        if meta.len() < 32 {
            return check(
                "audit key",
                Verdict::Fail,
                format!("{} holds {} bytes", path.display(), meta.len()),
                "use at least 32 random bytes: head -c 32 /dev/urandom",
            );
        }
        let inside = path.starts_with(&self.config.server.data_dir);
        check(
            "audit key",
            if inside { Verdict::Warn } else { Verdict::Ok },
            format!(
                "{} ({} bytes, readable by srebot only){}",
                path.display(),
                meta.len(),
                if inside {
                    "; it sits in the data dir, beside the log it keys"
                } else {
                    ""
                }
            ),
            if inside {
                "keep the key outside the data dir (a mounted secret)"
            } else {
                ""
            },
        )
    }

    async fn loki_check(&self, now: i64) -> Check {
        let Some(loki) = &self.loki else {
            return check(
                "loki",
                Verdict::Off,
                "not configured: log context comes from pushed lines only".to_owned(),
                "",
            );
        };
        let query = rca::loki::LogQuery {
            selector: rca::loki::StreamSelector::default().with(
                "namespace",
                rca::loki::MatchOp::Regex,
                ".+",
            ),
            filters: Vec::new(),
            start_ns: (now - 60_000) * 1_000_000,
            end_ns: now * 1_000_000,
            max_entries: 1,
        };
        match tokio::time::timeout(LOKI_PROBE, loki.query_range(&query)).await {
            Ok(Ok(pull)) => check(
                "loki",
                Verdict::Ok,
                format!(
                    "answers ({} streams in the last minute)",
                    pull.batch.streams.len()
                ),
                "",
            ),
            Ok(Err(e)) => check(
                "loki",
                Verdict::Fail,
                model::error::chain(&e),
                "check [loki] (or [rca.loki]) url, tenant and token_file, and that Loki is reachable from srebot",
            ),
            Err(_) => check(
                "loki",
                Verdict::Fail,
                format!("no answer within {}s", LOKI_PROBE.as_secs()),
                "check that Loki is reachable from srebot (NetworkPolicy, DNS)",
            ),
        }
    }

    async fn model_check(&self, caller: &Caller) -> Check {
        match self.probe_model(caller).await {
            Ok(probe) if !probe.configured => check("model", Verdict::Off, probe.detail, ""),
            Ok(probe) if probe.ok => check(
                "model",
                Verdict::Ok,
                format!(
                    "{} at {} answered in {} ms",
                    probe.model, probe.endpoint, probe.latency_ms
                ),
                "",
            ),
            Ok(probe) => check(
                "model",
                Verdict::Fail,
                format!("{} at {}: {}", probe.model, probe.endpoint, probe.detail),
                "check [rca.llm] url and model, and that the model is pulled (ollama pull)",
            ),
            Err(e) => check("model", Verdict::Fail, model::error::chain(&e), ""),
        }
    }

    /// Each cluster: its watches, and every verb of `rbac.yaml` asked of the cluster.
    async fn cluster_checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let (statuses, _) = self.signals.status();
        let namespaces: Vec<String> = match &self.remediation {
            Some(r) => r
                .policy()
                .namespaces
                .iter()
                .filter(|n| !n.contains(['*', '?']))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let wanted = cluster::access::granted(cluster::access::RBAC_YAML, &namespaces);
        for spec in self.config.clusters() {
            let name = spec.name.clone();
            if let Some(status) = statuses.iter().find(|s| s.name == name) {
                let failing: Vec<String> = status
                    .kinds
                    .iter()
                    .filter_map(|(kind, w)| {
                        w.last_error
                            .as_ref()
                            .filter(|_| !w.synced)
                            .map(|e| format!("{}: {e}", kind.as_str()))
                    })
                    .collect();
                out.push(if status.synced {
                    check(
                        format!("cluster {name} watches"),
                        Verdict::Ok,
                        format!("{} kinds synced", status.kinds.len()),
                        "",
                    )
                } else if failing.is_empty() {
                    check(
                        format!("cluster {name} watches"),
                        Verdict::Warn,
                        "still listing".to_owned(),
                        "",
                    )
                } else {
                    check(
                        format!("cluster {name} watches"),
                        Verdict::Fail,
                        failing.join("; "),
                        "grant the srebot-reader role of cluster/rbac.yaml",
                    )
                });
            }
            let client = match spec.client().await {
                Ok(client) => client,
                Err(e) => {
                    out.push(check(
                        format!("cluster {name} access"),
                        Verdict::Fail,
                        model::error::chain(&e),
                        "check the [[cluster]] entry (kubeconfig, in_cluster or url + token_file)",
                    ));
                    continue;
                }
            };
            let reviewed = cluster::access::review(&client, &wanted).await;
            let denied: Vec<String> = reviewed
                .iter()
                .filter(|r| !r.allowed)
                .map(|r| r.access.to_string())
                .collect();
            out.push(if denied.is_empty() {
                check(
                    format!("cluster {name} access"),
                    Verdict::Ok,
                    format!("all {} verbs of rbac.yaml allowed", reviewed.len()),
                    "",
                )
            } else {
                check(
                    format!("cluster {name} access"),
                    Verdict::Fail,
                    format!(
                        "{} of {} verbs refused: {}",
                        denied.len(),
                        reviewed.len(),
                        denied.join(", ")
                    ),
                    "apply cluster/rbac.yaml (deploy/base/rbac.yaml), with the executor Role in each namespace the policy allows",
                )
            });
        }
        out
    }
}
