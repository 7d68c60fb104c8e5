//! The ledger's tables for the operator workspace: paged incident lists, operator notes on
//! incidents the correlator no longer holds, feedback, suppression windows and rule
//! suggestions. Same schema on SQLite and PostgreSQL (migration 0004).

use crate::Error;
use crate::ledger::{
    FINDING_COLUMNS, INCIDENT_COLUMNS, Ledger, finding_of, get, incident_of, insert_event, json,
    unknown, upsert_incident,
};
use crate::record::{Finding, Incident, IncidentSummary, TimelineEvent, TimelineKind};
use crate::workspace::{
    Feedback, IncidentPage, IncidentQuery, RuleSuggestion, SuggestionStatus, Suppression,
    SuppressionOrigin, Verdict, WindowTime,
};
use model::{Domain, IncidentType};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Most rows of one page.
pub const MAX_PER_PAGE: u32 = 500;

/// Longest operator text kept (comments, notes, reasons), in bytes.
pub const MAX_NOTE_BYTES: usize = 4_096;

/// Checks an operator's text: not longer than [`MAX_NOTE_BYTES`].
pub fn check_note(field: &'static str, text: &str) -> Result<(), Error> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(Error::InvalidInput {
            field,
            reason: format!("{} bytes is over the limit of {MAX_NOTE_BYTES}", text.len()),
        });
    }
    Ok(())
}

/// `WHERE` clauses and their values for a query, leaving out the domain when asked.
fn conditions(query: &IncidentQuery, with_domain: bool) -> (String, Vec<String>) {
    let mut sql = String::from(" WHERE merged_into IS NULL");
    let mut values: Vec<String> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, value: String| {
        values.push(value);
        sql.push_str(&clause.replace("$?", &format!("${}", values.len())));
    };
    if let Some(status) = query.status {
        push(&mut sql, " AND status = $?", status.as_str().to_owned());
    }
    if let Some(severity) = query.severity {
        push(&mut sql, " AND severity = $?", severity.as_str().to_owned());
    }
    if let (Some(domain), true) = (query.domain, with_domain) {
        push(&mut sql, " AND domain = $?", domain.as_str().to_owned());
    }
    if let Some(kind) = query.incident_type {
        push(
            &mut sql,
            " AND incident_type = $?",
            kind.as_str().to_owned(),
        );
    }
    if let Some(source) = &query.source {
        push(&mut sql, " AND source = $?", source.clone());
    }
    if let Some(text) = query
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        push(
            &mut sql,
            " AND (LOWER(id) LIKE $? ESCAPE '\\' OR LOWER(target_name) LIKE $? ESCAPE '\\' \
             OR LOWER(COALESCE(target_namespace, '')) LIKE $? ESCAPE '\\' \
             OR LOWER(summary) LIKE $? ESCAPE '\\')",
            format!("%{escaped}%"),
        );
    }
    (sql, values)
}

fn count(row: &AnyRow, column: &'static str) -> Result<u64, Error> {
    Ok(u64::try_from(get::<i64>(row, column)?).unwrap_or(0))
}

fn suppression_of(row: &AnyRow) -> Result<Suppression, Error> {
    let id: String = get(row, "id")?;
    let origin: String = get(row, "origin")?;
    let split = |text: String| -> Vec<String> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let types = split(get(row, "incident_types")?)
        .into_iter()
        .map(|name| {
            IncidentType::from_name(&name).ok_or_else(|| unknown(&id, "incident_types", &name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time: WindowTime = json(&id, "time_json", &get::<String>(row, "time_json")?)?;
    Ok(Suppression {
        origin: SuppressionOrigin::from_name(&origin)
            .ok_or_else(|| unknown(&id, "origin", &origin))?,
        name: get(row, "name")?,
        signature: get(row, "signature")?,
        namespaces: split(get(row, "namespaces")?),
        incident_types: types,
        time,
        reason: get(row, "reason")?,
        created_by: get(row, "created_by")?,
        created_at_ms: get(row, "created_at_ms")?,
        removed_by: get(row, "removed_by")?,
        removed_at_ms: get(row, "removed_at_ms")?,
        id,
    })
}

fn suggestion_of(row: &AnyRow) -> Result<RuleSuggestion, Error> {
    let id: String = get(row, "id")?;
    let status: String = get(row, "status")?;
    Ok(RuleSuggestion {
        fingerprint: get(row, "fingerprint")?,
        kind: get(row, "kind")?,
        status: SuggestionStatus::from_name(&status)
            .ok_or_else(|| unknown(&id, "status", &status))?,
        title: get(row, "title")?,
        rule_toml: get(row, "rule_toml")?,
        evidence: json(&id, "evidence_json", &get::<String>(row, "evidence_json")?)?,
        created_at_ms: get(row, "created_at_ms")?,
        decided_by: get(row, "decided_by")?,
        decided_at_ms: get(row, "decided_at_ms")?,
        note: get(row, "note")?,
        id,
    })
}

const SUPPRESSION_COLUMNS: &str = "id, origin, name, signature, namespaces, incident_types, \
    time_json, reason, created_by, created_at_ms, removed_by, removed_at_ms";

const SUGGESTION_COLUMNS: &str = "id, fingerprint, kind, status, title, rule_toml, \
    evidence_json, created_at_ms, decided_by, decided_at_ms, note";

impl Ledger {
    /// One page of incidents matching `query`, newest opened first, with the total and the
    /// count per domain (of incidents matching every other filter).
    pub async fn page(&self, query: &IncidentQuery) -> Result<IncidentPage, Error> {
        let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
        let offset = i64::from(query.page.max(1) - 1) * i64::from(per_page);
        let (filter, values) = conditions(query, true);
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents{filter}");
        sql.push_str(&format!(
            " ORDER BY opened_at_ms DESC, id ASC LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        ));
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in &values {
            rows = rows.bind(value.as_str());
        }
        let rows = rows
            .bind(i64::from(per_page))
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("page incidents"))?;
        let rows = rows
            .iter()
            .map(|row| incident_of(row).map(|i| i.summary()))
            .collect::<Result<Vec<IncidentSummary>, Error>>()?;

        let mut total = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM incidents{filter}"
        )));
        for value in &values {
            total = total.bind(value.as_str());
        }
        let total = total
            .fetch_one(&self.pool)
            .await
            .map_err(Error::db("count incidents"))?;
        let total = count(&total, "n")?;

        let (filter, values) = conditions(query, false);
        let mut by_domain = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT domain, COUNT(*) AS n FROM incidents{filter} GROUP BY domain"
        )));
        for value in &values {
            by_domain = by_domain.bind(value.as_str());
        }
        let mut domains = Vec::new();
        for row in by_domain
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("count incidents by domain"))?
        {
            let name: String = get(&row, "domain")?;
            if let Some(domain) = crate::record::domain_from_name(&name) {
                domains.push((domain, count(&row, "n")?));
            }
        }
        domains.sort_by_key(|(d, _)| *d);
        Ok(IncidentPage {
            rows,
            total,
            domains,
        })
    }

    /// Incidents opened most recently, newest first (merged ones left out).
    pub async fn recent(&self, limit: u32) -> Result<Vec<Incident>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE merged_into IS NULL \
             ORDER BY opened_at_ms DESC, id ASC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("recent incidents"))?;
        rows.iter().map(incident_of).collect()
    }

    /// Writes an operator's note about an incident the correlator no longer holds: the
    /// incident as `edit` leaves it and one timeline event after its last.
    pub async fn annotate_stored(
        &self,
        id: &str,
        kind: TimelineKind,
        at_ms: i64,
        detail: String,
        edit: impl FnOnce(&mut Incident),
    ) -> Result<(Incident, TimelineEvent), Error> {
        let mut tx = self.pool.begin().await.map_err(Error::db("begin"))?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read incident"))?
        .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        let mut incident = incident_of(&row)?;
        edit(&mut incident);
        let next = sqlx::query(
            "SELECT COALESCE(MAX(seq), -1) + 1 AS next FROM timeline_events WHERE incident_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("read timeline"))?;
        let event = TimelineEvent {
            incident_id: id.to_owned(),
            seq: count(&next, "next")?,
            at_ms,
            kind,
            status: incident.status,
            finding_id: None,
            detail,
            notify: false,
        };
        upsert_incident(&mut tx, &incident).await?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(Error::db("commit"))?;
        Ok((incident, event))
    }

    /// Stores an operator's verdict on an incident.
    pub async fn add_feedback(&self, feedback: &Feedback) -> Result<(), Error> {
        check_note("note", &feedback.note)?;
        sqlx::query(
            "INSERT INTO incident_feedback (id, incident_id, verdict, note, author, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(feedback.id.as_str())
        .bind(feedback.incident_id.as_str())
        .bind(feedback.verdict.as_str())
        .bind(feedback.note.as_str())
        .bind(feedback.author.as_str())
        .bind(feedback.at_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::db("write feedback"))?;
        Ok(())
    }

    /// Verdicts on one incident, oldest first.
    pub async fn feedback(&self, incident_id: &str) -> Result<Vec<Feedback>, Error> {
        let rows = sqlx::query(
            "SELECT id, incident_id, verdict, note, author, at_ms FROM incident_feedback \
             WHERE incident_id = $1 ORDER BY at_ms, id",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read feedback"))?;
        rows.iter().map(feedback_of).collect()
    }

    /// Every `noise` verdict with the detectors of the incident's findings: what a
    /// threshold marked noise again and again looks like.
    pub async fn noise_by_detector(&self, limit: u32) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT f.detector AS detector, b.incident_id AS incident_id \
             FROM incident_feedback b JOIN findings f ON f.incident_id = b.incident_id \
             WHERE b.verdict = 'noise' ORDER BY b.incident_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read noise feedback"))?;
        rows.iter()
            .map(|row| Ok((get(row, "detector")?, get(row, "incident_id")?)))
            .collect()
    }

    /// Findings a detector raised, most recently seen first.
    pub async fn findings_of_detector(
        &self,
        detector: &str,
        limit: u32,
    ) -> Result<Vec<Finding>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE detector = $1 \
             ORDER BY last_seen_ms DESC, id LIMIT $2"
        )))
        .bind(detector)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read findings of a detector"))?;
        rows.iter().map(finding_of).collect()
    }

    /// How many findings each detector raised since `since_ms`, and the newest of them.
    pub async fn detector_counts(&self, since_ms: i64) -> Result<Vec<(String, u64, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT detector, COUNT(*) AS n, MAX(last_seen_ms) AS last FROM findings \
             WHERE last_seen_ms >= $1 GROUP BY detector",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("count findings by detector"))?;
        rows.iter()
            .map(|row| Ok((get(row, "detector")?, count(row, "n")?, get(row, "last")?)))
            .collect()
    }

    /// Adds a suppression window.
    pub async fn add_suppression(&self, s: &Suppression) -> Result<(), Error> {
        check_note("reason", &s.reason)?;
        check_note("name", &s.name)?;
        let time = serde_json::to_string(&s.time).map_err(|source| Error::StoredJson {
            id: s.id.clone(),
            column: "time_json",
            source,
        })?;
        let types: Vec<&str> = s.incident_types.iter().map(|t| t.as_str()).collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO suppressions ({SUPPRESSION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             signature = excluded.signature, namespaces = excluded.namespaces, \
             incident_types = excluded.incident_types, time_json = excluded.time_json, \
             reason = excluded.reason, removed_by = excluded.removed_by, \
             removed_at_ms = excluded.removed_at_ms"
        )))
        .bind(s.id.as_str())
        .bind(s.origin.as_str())
        .bind(s.name.as_str())
        .bind(s.signature.as_deref())
        .bind(s.namespaces.join(","))
        .bind(types.join(","))
        .bind(time)
        .bind(s.reason.as_str())
        .bind(s.created_by.as_str())
        .bind(s.created_at_ms)
        .bind(s.removed_by.as_deref())
        .bind(s.removed_at_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::db("write suppression"))?;
        Ok(())
    }

    /// Suppression windows, newest first; removed ones only when asked.
    pub async fn suppressions(&self, with_removed: bool) -> Result<Vec<Suppression>, Error> {
        let filter = if with_removed {
            ""
        } else {
            " WHERE removed_at_ms IS NULL"
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUPPRESSION_COLUMNS} FROM suppressions{filter} \
             ORDER BY created_at_ms DESC, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read suppressions"))?;
        rows.iter().map(suppression_of).collect()
    }

    /// Marks a window removed (kept for the record); `Ok(None)` when there is none to remove.
    pub async fn remove_suppression(
        &self,
        id: &str,
        by: &str,
        at_ms: i64,
    ) -> Result<Option<Suppression>, Error> {
        let done = sqlx::query(
            "UPDATE suppressions SET removed_by = $1, removed_at_ms = $2 \
             WHERE id = $3 AND removed_at_ms IS NULL",
        )
        .bind(by)
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(Error::db("remove suppression"))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(Error::db("read suppression"))?;
        suppression_of(&row).map(Some)
    }

    /// Replaces the windows that come from the policy file with `windows` (in one
    /// transaction), so the list always shows the running policy's.
    pub async fn replace_policy_suppressions(&self, windows: &[Suppression]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(Error::db("begin"))?;
        sqlx::query("DELETE FROM suppressions WHERE origin = 'policy'")
            .execute(&mut *tx)
            .await
            .map_err(Error::db("clear policy suppressions"))?;
        tx.commit().await.map_err(Error::db("commit"))?;
        for window in windows {
            self.add_suppression(window).await?;
        }
        Ok(())
    }

    /// Stores a suggestion unless one with its fingerprint exists; whether it was new.
    pub async fn add_suggestion(&self, s: &RuleSuggestion) -> Result<bool, Error> {
        let evidence = serde_json::to_string(&s.evidence).map_err(|source| Error::StoredJson {
            id: s.id.clone(),
            column: "evidence_json",
            source,
        })?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rule_suggestions ({SUGGESTION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (fingerprint) DO NOTHING"
        )))
        .bind(s.id.as_str())
        .bind(s.fingerprint.as_str())
        .bind(s.kind.as_str())
        .bind(s.status.as_str())
        .bind(s.title.as_str())
        .bind(s.rule_toml.as_str())
        .bind(evidence)
        .bind(s.created_at_ms)
        .bind(s.decided_by.as_deref())
        .bind(s.decided_at_ms)
        .bind(s.note.as_deref())
        .execute(&self.pool)
        .await
        .map_err(Error::db("write suggestion"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Suggestions of one status (or all), newest first.
    pub async fn suggestions(
        &self,
        status: Option<SuggestionStatus>,
    ) -> Result<Vec<RuleSuggestion>, Error> {
        let rows = match status {
            Some(status) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SUGGESTION_COLUMNS} FROM rule_suggestions WHERE status = $1 \
                 ORDER BY created_at_ms DESC, id"
            )))
            .bind(status.as_str()),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SUGGESTION_COLUMNS} FROM rule_suggestions ORDER BY created_at_ms DESC, id"
            ))),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("read suggestions"))?;
        rows.iter().map(suggestion_of).collect()
    }

    pub async fn suggestion(&self, id: &str) -> Result<Option<RuleSuggestion>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUGGESTION_COLUMNS} FROM rule_suggestions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read suggestion"))?;
        row.as_ref().map(suggestion_of).transpose()
    }

    /// Accepts or rejects a pending suggestion; `Ok(false)` when it is not pending.
    pub async fn decide_suggestion(
        &self,
        id: &str,
        status: SuggestionStatus,
        by: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> Result<bool, Error> {
        if let Some(note) = note {
            check_note("note", note)?;
        }
        let done = sqlx::query(
            "UPDATE rule_suggestions SET status = $1, decided_by = $2, decided_at_ms = $3, \
             note = $4 WHERE id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(by)
        .bind(at_ms)
        .bind(note)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(Error::db("decide suggestion"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Domains known to the ledger with their incident counts (merged left out).
    pub async fn domain_counts(&self) -> Result<Vec<(Domain, u64)>, Error> {
        Ok(self.page(&IncidentQuery::default()).await?.domains)
    }
}

fn feedback_of(row: &AnyRow) -> Result<Feedback, Error> {
    let id: String = get(row, "id")?;
    let verdict: String = row
        .try_get("verdict")
        .map_err(Error::db("decode feedback"))?;
    Ok(Feedback {
        incident_id: get(row, "incident_id")?,
        verdict: Verdict::from_name(&verdict).ok_or_else(|| unknown(&id, "verdict", &verdict))?,
        note: get(row, "note")?,
        author: get(row, "author")?,
        at_ms: get(row, "at_ms")?,
        id,
    })
}
