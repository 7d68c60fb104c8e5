//! The durable incident ledger over sqlx's `Any` driver: one schema and one migration set
//! for SQLite (default, WAL + synchronous=FULL) and PostgreSQL; a batch of changes commits
//! in one transaction, so a crash leaves either all of it or none.

use crate::Error;
use crate::correlator::Change;
use crate::record::{
    EvidenceItem, EvidenceRecord, Finding, Incident, IncidentDetail, IncidentFilter,
    IncidentSummary, TimelineEvent, TimelineKind, domain_from_name, rfc3339, severity_from_name,
};
use model::{IncidentCandidate, IncidentStatus, IncidentType, Origin, Scope, Target};
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};
use std::collections::BTreeSet;
use std::path::Path;

/// The file the SQLite ledger uses inside the data directory.
pub const SQLITE_FILE: &str = "incidents.db";

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ledger", include_str!("../migrations/0001_ledger.sql")),
    (2, "origins", include_str!("../migrations/0002_origins.sql")),
    (3, "sources", include_str!("../migrations/0003_sources.sql")),
    (
        4,
        "channels",
        include_str!("../migrations/0004_channels.sql"),
    ),
    (
        5,
        "documents",
        include_str!("../migrations/0005_documents.sql"),
    ),
    (
        6,
        "tool evidence",
        include_str!("../migrations/0006_tool_evidence.sql"),
    ),
    (
        7,
        "workspace",
        include_str!("../migrations/0007_workspace.sql"),
    ),
];

/// Which database the ledger is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Incidents, findings, evidence, timeline events, action attempts and approvals.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

pub(crate) const INCIDENT_COLUMNS: &str = "id, signature, incident_type, domain, severity, status, \
    target_kind, target_namespace, target_name, opened_at_ms, updated_at_ms, resolved_at_ms, \
    summary, candidate_count, reopen_count, flapping, merged_into, origins, source, assignee, \
    acknowledged_by, acknowledged_at_ms";

pub(crate) const FINDING_COLUMNS: &str = "id, incident_id, signature, severity, confidence, occurrences, \
    first_seen_ms, last_seen_ms, healthy_at_ms, candidate_json";

impl Ledger {
    /// Opens (creating) the SQLite ledger `incidents.db` in `data_dir`.
    pub async fn open_dir(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(SQLITE_FILE);
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to `sqlite:PATH` or `postgres://...` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        let options = AnyPoolOptions::new();
        let options = match backend {
            // WAL lets readers run beside the single writer; synchronous=FULL fsyncs the WAL
            // at every commit, so an acknowledged commit survives a crash or power loss.
            Backend::Sqlite => options.max_connections(4).after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 10000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(8),
        };
        let pool = options.connect(url).await.map_err(Error::db("connect"))?;
        let ledger = Self { pool, backend };
        ledger.migrate().await?;
        Ok(ledger)
    }

    async fn migrate(&self) -> Result<(), Error> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await
            .map_err(|source| Error::Migrate { source })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for the tables other crates keep in the ledger (the channels'
    /// outbox, migration 0004): one database, one migration set, one transaction log.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Persists changes in one transaction; returns once it is durable.
    pub async fn apply(&self, changes: &[Change]) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(Error::db("begin"))?;
        for change in changes {
            upsert_incident(&mut tx, &change.incident).await?;
            for finding in &change.findings {
                upsert_finding(&mut tx, finding).await?;
                for record in EvidenceRecord::of_finding(finding) {
                    insert_evidence(&mut tx, &record).await?;
                }
            }
            for (retired, kept) in &change.retired_findings {
                sqlx::query("UPDATE evidence SET finding_id = $1 WHERE finding_id = $2")
                    .bind(kept.as_str())
                    .bind(retired.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("retire finding evidence"))?;
                sqlx::query("DELETE FROM findings WHERE id = $1")
                    .bind(retired.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("retire finding"))?;
            }
            for event in &change.timeline {
                insert_event(&mut tx, event).await?;
            }
        }
        tx.commit().await.map_err(Error::db("commit"))
    }

    /// Incidents matching the filter, most recently updated first (merged ones left out).
    pub async fn incidents(
        &self,
        filter: &IncidentFilter,
        limit: u32,
    ) -> Result<Vec<Incident>, Error> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE merged_into IS NULL");
        let mut values = Vec::new();
        for (column, value) in [
            ("status", filter.status.map(|s| s.as_str())),
            ("severity", filter.severity.map(|s| s.as_str())),
            ("domain", filter.domain.map(|d| d.as_str())),
            ("source", filter.source.as_deref()),
        ] {
            if let Some(value) = value {
                values.push(value);
                sql.push_str(&format!(" AND {column} = ${}", values.len()));
            }
        }
        sql.push_str(&format!(
            " ORDER BY updated_at_ms DESC, id ASC LIMIT ${}",
            values.len() + 1
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = query.bind(value);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("list incidents"))?;
        rows.iter().map(incident_of).collect()
    }

    /// A named document kept in the ledger (see [`Ledger::save_document`]), if stored.
    pub async fn document(&self, name: &str) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT body FROM documents WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::db("read document"))?;
        row.map(|row| row.try_get::<String, _>("body"))
            .transpose()
            .map_err(Error::db("read document"))
    }

    /// Writes a named document whole, in one statement (the old body or the new, never a
    /// mix), e.g. the remediation book with its approvals and used token nonces.
    pub async fn save_document(&self, name: &str, body: &str, at_ms: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO documents (name, body, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name)
        .bind(body)
        .bind(at_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::db("write document"))?;
        Ok(())
    }

    /// Other incidents with the same signature, most recently opened first: what this
    /// problem looked like before and how it ended.
    pub async fn similar(
        &self,
        signature: &str,
        except_id: &str,
        limit: u32,
    ) -> Result<Vec<Incident>, Error> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE merged_into IS NULL \
             AND signature = $1 AND id <> $2 ORDER BY opened_at_ms DESC, id ASC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(signature)
            .bind(except_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("similar incidents"))?;
        rows.iter().map(incident_of).collect()
    }

    /// `GET /api/v1/incidents` rows.
    pub async fn summaries(
        &self,
        filter: &IncidentFilter,
        limit: u32,
    ) -> Result<Vec<IncidentSummary>, Error> {
        Ok(self
            .incidents(filter, limit)
            .await?
            .iter()
            .map(Incident::summary)
            .collect())
    }

    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read incident"))?;
        row.as_ref().map(incident_of).transpose()
    }

    /// `GET /api/v1/incidents/{id}`.
    pub async fn detail(&self, id: &str) -> Result<Option<IncidentDetail>, Error> {
        let Some(incident) = self.incident(id).await? else {
            return Ok(None);
        };
        let findings = self.findings(id).await?;
        let evidence_rows = sqlx::query(
            "SELECT e.id, e.finding_id, e.body_json FROM evidence e \
             JOIN findings f ON f.id = e.finding_id WHERE f.incident_id = $1 \
             ORDER BY e.at_ms, e.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read evidence"))?;
        let evidence = evidence_rows
            .iter()
            .map(|row| {
                let id: String = get(row, "id")?;
                let item: EvidenceItem = json(&id, "body_json", &get::<String>(row, "body_json")?)?;
                Ok(EvidenceRecord {
                    finding_id: get(row, "finding_id")?,
                    id,
                    evidence: item,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let timeline = self.timeline(id).await?;
        let feedback = self.feedback(id).await?;
        Ok(Some(IncidentDetail {
            acknowledged_at: incident.acknowledged_at_ms.map(rfc3339::format),
            feedback,
            summary: incident.summary(),
            signature: incident.signature,
            resolved_at: incident.resolved_at_ms.map(rfc3339::format),
            reopen_count: incident.reopen_count,
            flapping: incident.flapping,
            merged_into: incident.merged_into,
            findings,
            evidence,
            timeline,
        }))
    }

    /// Findings of one incident, earliest first.
    pub async fn findings(&self, incident_id: &str) -> Result<Vec<Finding>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE incident_id = $1 \
             ORDER BY first_seen_ms, id"
        )))
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read findings"))?;
        rows.iter().map(finding_of).collect()
    }

    /// `GET /api/v1/candidates`: deduplicated candidates, most recently seen first.
    pub async fn candidates(&self, limit: u32) -> Result<Vec<Finding>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FINDING_COLUMNS} FROM findings ORDER BY last_seen_ms DESC, id LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("list candidates"))?;
        rows.iter().map(finding_of).collect()
    }

    /// Timeline of one incident, in order.
    pub async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEvent>, Error> {
        let rows = sqlx::query(
            "SELECT incident_id, seq, at_ms, kind, status, finding_id, detail, notify \
             FROM timeline_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read timeline"))?;
        rows.iter()
            .map(|row| {
                let incident_id: String = get(row, "incident_id")?;
                let kind: String = get(row, "kind")?;
                let status: String = get(row, "status")?;
                Ok(TimelineEvent {
                    seq: u64::try_from(get::<i64>(row, "seq")?).unwrap_or(0),
                    at_ms: get(row, "at_ms")?,
                    kind: TimelineKind::from_name(&kind)
                        .ok_or_else(|| unknown(&incident_id, "kind", &kind))?,
                    status: IncidentStatus::from_name(&status)
                        .ok_or_else(|| unknown(&incident_id, "status", &status))?,
                    finding_id: get(row, "finding_id")?,
                    detail: get(row, "detail")?,
                    notify: get::<i64>(row, "notify")? != 0,
                    incident_id,
                })
            })
            .collect()
    }

    /// Number of incidents, findings and timeline events stored (merged incidents included).
    pub async fn counts(&self) -> Result<(u64, u64, u64), Error> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM incidents) AS i, (SELECT COUNT(*) FROM findings) AS f, \
             (SELECT COUNT(*) FROM timeline_events) AS t",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(Error::db("count"))?;
        let count =
            |name: &'static str| get::<i64>(&row, name).map(|n| u64::try_from(n).unwrap_or(0));
        Ok((count("i")?, count("f")?, count("t")?))
    }

    /// Incidents the correlator should hold after a restart: every one not resolved or
    /// suppressed, and those updated within `recent_ms` of the newest update.
    pub(crate) async fn restorable(&self, recent_ms: i64) -> Result<Vec<Incident>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE merged_into IS NULL AND \
             (status NOT IN ('resolved', 'suppressed') OR updated_at_ms >= \
             (SELECT COALESCE(MAX(updated_at_ms), 0) FROM incidents) - $1) ORDER BY id"
        )))
        .bind(recent_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("restore incidents"))?;
        rows.iter().map(incident_of).collect()
    }

    /// SQLite's `(journal_mode, synchronous)` as a connection sees them (`None` on PostgreSQL).
    pub async fn sqlite_durability(&self) -> Result<Option<(String, i64)>, Error> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await.map_err(Error::db("acquire"))?;
        let mode = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::db("read journal_mode"))?
            .try_get::<String, _>(0)
            .map_err(Error::db("read journal_mode"))?;
        let sync = sqlx::query("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::db("read synchronous"))?
            .try_get::<i64, _>(0)
            .map_err(Error::db("read synchronous"))?;
        Ok(Some((mode, sync)))
    }

    /// SQLite's `PRAGMA integrity_check` (`ok` when sound); PostgreSQL checks itself.
    pub async fn integrity_check(&self) -> Result<String, Error> {
        match self.backend {
            Backend::Sqlite => {
                let row = sqlx::query("PRAGMA integrity_check")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Error::db("integrity check"))?;
                row.try_get::<String, _>(0)
                    .map_err(Error::db("integrity check"))
            }
            Backend::Postgres => Ok("ok".to_owned()),
        }
    }
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

pub(crate) async fn upsert_incident(tx: &mut Tx, incident: &Incident) -> Result<(), Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22) \
         ON CONFLICT (id) DO UPDATE SET signature = excluded.signature, \
         incident_type = excluded.incident_type, domain = excluded.domain, \
         severity = excluded.severity, status = excluded.status, \
         target_kind = excluded.target_kind, target_namespace = excluded.target_namespace, \
         target_name = excluded.target_name, opened_at_ms = excluded.opened_at_ms, \
         updated_at_ms = excluded.updated_at_ms, resolved_at_ms = excluded.resolved_at_ms, \
         summary = excluded.summary, candidate_count = excluded.candidate_count, \
         reopen_count = excluded.reopen_count, flapping = excluded.flapping, \
         merged_into = excluded.merged_into, origins = excluded.origins, \
         source = excluded.source, assignee = excluded.assignee, \
         acknowledged_by = excluded.acknowledged_by, \
         acknowledged_at_ms = excluded.acknowledged_at_ms"
    )))
    .bind(incident.id.as_str())
    .bind(incident.signature.as_str())
    .bind(incident.incident_type.as_str())
    .bind(incident.domain.as_str())
    .bind(incident.severity.as_str())
    .bind(incident.status.as_str())
    .bind(incident.target.kind.as_str())
    .bind(incident.target.namespace.as_deref())
    .bind(incident.target.name.as_str())
    .bind(incident.opened_at_ms)
    .bind(incident.updated_at_ms)
    .bind(incident.resolved_at_ms)
    .bind(incident.summary.as_str())
    .bind(i64::try_from(incident.candidate_count).unwrap_or(i64::MAX))
    .bind(i64::from(incident.reopen_count))
    .bind(i64::from(incident.flapping))
    .bind(incident.merged_into.as_deref())
    .bind(origin_names(&incident.origins))
    .bind(incident.source.as_str())
    .bind(incident.assignee.as_deref())
    .bind(incident.acknowledged_by.as_deref())
    .bind(incident.acknowledged_at_ms)
    .execute(&mut **tx)
    .await
    .map_err(Error::db("write incident"))?;
    Ok(())
}

async fn upsert_finding(tx: &mut Tx, finding: &Finding) -> Result<(), Error> {
    let candidate = &finding.candidate;
    let candidate_json = serde_json::to_string(candidate).map_err(|source| Error::StoredJson {
        id: finding.id.clone(),
        column: "candidate_json",
        source,
    })?;
    sqlx::query(
        "INSERT INTO findings (id, incident_id, signature, incident_type, scope, target, \
         namespace, node, detector, severity, confidence, occurrences, first_seen_ms, \
         last_seen_ms, healthy_at_ms, candidate_json) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (id) DO UPDATE SET incident_id = excluded.incident_id, \
         severity = excluded.severity, confidence = excluded.confidence, \
         occurrences = excluded.occurrences, first_seen_ms = excluded.first_seen_ms, \
         last_seen_ms = excluded.last_seen_ms, healthy_at_ms = excluded.healthy_at_ms, \
         detector = excluded.detector, node = excluded.node, \
         candidate_json = excluded.candidate_json",
    )
    .bind(finding.id.as_str())
    .bind(finding.incident_id.as_str())
    .bind(finding.signature.as_str())
    .bind(candidate.incident_type.as_str())
    .bind(candidate.scope.as_str())
    .bind(candidate.target.as_str())
    .bind(candidate.namespace.as_deref())
    .bind(candidate.node.as_deref())
    .bind(candidate.detector.as_str())
    .bind(finding.severity.as_str())
    .bind(finding.confidence)
    .bind(i64::try_from(finding.occurrences).unwrap_or(i64::MAX))
    .bind(finding.first_seen_ms)
    .bind(finding.last_seen_ms)
    .bind(finding.healthy_at_ms)
    .bind(candidate_json)
    .execute(&mut **tx)
    .await
    .map_err(Error::db("write finding"))?;
    Ok(())
}

async fn insert_evidence(tx: &mut Tx, record: &EvidenceRecord) -> Result<(), Error> {
    let (kind, at_ms) = match &record.evidence {
        EvidenceItem::Metric(m) => ("metric", m.at_ms),
        EvidenceItem::Event(e) => ("event", e.at_ms),
    };
    let body = serde_json::to_string(&record.evidence).map_err(|source| Error::StoredJson {
        id: record.id.clone(),
        column: "body_json",
        source,
    })?;
    sqlx::query(
        "INSERT INTO evidence (id, finding_id, kind, at_ms, body_json) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(record.id.as_str())
    .bind(record.finding_id.as_str())
    .bind(kind)
    .bind(at_ms)
    .bind(body)
    .execute(&mut **tx)
    .await
    .map_err(Error::db("write evidence"))?;
    Ok(())
}

pub(crate) async fn insert_event(tx: &mut Tx, event: &TimelineEvent) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO timeline_events (incident_id, seq, at_ms, kind, status, finding_id, detail, \
         notify) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (incident_id, seq) DO NOTHING",
    )
    .bind(event.incident_id.as_str())
    .bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
    .bind(event.at_ms)
    .bind(event.kind.as_str())
    .bind(event.status.as_str())
    .bind(event.finding_id.as_deref())
    .bind(event.detail.as_str())
    .bind(i64::from(event.notify))
    .execute(&mut **tx)
    .await
    .map_err(Error::db("write timeline event"))?;
    Ok(())
}

pub(crate) fn get<T>(row: &AnyRow, column: &'static str) -> Result<T, Error>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(Error::db("decode row"))
}

pub(crate) fn json<T: DeserializeOwned>(
    id: &str,
    column: &'static str,
    text: &str,
) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|source| Error::StoredJson {
        id: id.to_owned(),
        column,
        source,
    })
}

pub(crate) fn unknown(id: &str, column: &'static str, value: &str) -> Error {
    Error::StoredValue {
        id: id.to_owned(),
        column,
        value: value.to_owned(),
    }
}

pub(crate) fn incident_of(row: &AnyRow) -> Result<Incident, Error> {
    let id: String = get(row, "id")?;
    let text = |column: &'static str| get::<String>(row, column);
    let incident_type = text("incident_type")?;
    let domain = text("domain")?;
    let severity = text("severity")?;
    let status = text("status")?;
    let kind = text("target_kind")?;
    Ok(Incident {
        signature: text("signature")?,
        incident_type: IncidentType::from_name(&incident_type)
            .ok_or_else(|| unknown(&id, "incident_type", &incident_type))?,
        domain: domain_from_name(&domain).ok_or_else(|| unknown(&id, "domain", &domain))?,
        severity: severity_from_name(&severity)
            .ok_or_else(|| unknown(&id, "severity", &severity))?,
        status: IncidentStatus::from_name(&status)
            .ok_or_else(|| unknown(&id, "status", &status))?,
        target: Target {
            kind: Scope::from_name(&kind).ok_or_else(|| unknown(&id, "target_kind", &kind))?,
            namespace: get(row, "target_namespace")?,
            name: text("target_name")?,
        },
        opened_at_ms: get(row, "opened_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
        resolved_at_ms: get(row, "resolved_at_ms")?,
        summary: text("summary")?,
        candidate_count: u64::try_from(get::<i64>(row, "candidate_count")?).unwrap_or(0),
        reopen_count: u32::try_from(get::<i64>(row, "reopen_count")?).unwrap_or(0),
        flapping: get::<i64>(row, "flapping")? != 0,
        merged_into: get(row, "merged_into")?,
        origins: origins_of(&id, &text("origins")?)?,
        source: text("source")?,
        assignee: get(row, "assignee")?,
        acknowledged_by: get(row, "acknowledged_by")?,
        acknowledged_at_ms: get(row, "acknowledged_at_ms")?,
        id,
    })
}

/// `alertmanager,rules`: the stored form of a set of origins.
fn origin_names(origins: &BTreeSet<Origin>) -> String {
    origins
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn origins_of(id: &str, text: &str) -> Result<BTreeSet<Origin>, Error> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(|name| Origin::from_name(name).ok_or_else(|| unknown(id, "origins", name)))
        .collect()
}

/// A stored candidate; one written before candidates carried an origin gets `alertmanager`
/// when its detector says so, else `rules` (the only other producer enabled by default then).
fn stored_candidate(id: &str, text: &str) -> Result<IncidentCandidate, Error> {
    let mut value: serde_json::Value = json(id, "candidate_json", text)?;
    if let Some(object) = value.as_object_mut()
        && !object.contains_key("origin")
    {
        let detector = object.get("detector").and_then(|d| d.as_str());
        let origin = if detector == Some(crate::alertmanager::ALERTMANAGER_DETECTOR) {
            Origin::Alertmanager
        } else {
            Origin::Rules
        };
        object.insert("origin".to_owned(), serde_json::json!(origin));
    }
    serde_json::from_value(value).map_err(|source| Error::StoredJson {
        id: id.to_owned(),
        column: "candidate_json",
        source,
    })
}

pub(crate) fn finding_of(row: &AnyRow) -> Result<Finding, Error> {
    let id: String = get(row, "id")?;
    let severity: String = get(row, "severity")?;
    let candidate = stored_candidate(&id, &get::<String>(row, "candidate_json")?)?;
    Ok(Finding {
        incident_id: get(row, "incident_id")?,
        signature: get(row, "signature")?,
        severity: severity_from_name(&severity)
            .ok_or_else(|| unknown(&id, "severity", &severity))?,
        confidence: get(row, "confidence")?,
        occurrences: u64::try_from(get::<i64>(row, "occurrences")?).unwrap_or(0),
        first_seen_ms: get(row, "first_seen_ms")?,
        last_seen_ms: get(row, "last_seen_ms")?,
        healthy_at_ms: get(row, "healthy_at_ms")?,
        candidate,
        id,
    })
}
