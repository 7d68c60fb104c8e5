//! Tool evidence: the result of a read-only investigation tool kept in the ledger as a
//! snapshot with an id that drafts, model interpretations and operators cite.
//!
//! Ids are content-addressed (tool, arguments and result), so running the same check on the
//! same data twice stores one row and cites one id; the table is bounded by pruning the oldest.

use crate::Error;
use crate::ledger::Ledger;
use crate::record::rfc3339;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// One stored tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `tool-<16 hex digits>`: a digest of the tool, its arguments and its result.
    pub id: String,
    /// The tool's catalogue name, e.g. `logs.recent`.
    pub tool: String,
    /// The arguments it ran with, as given (after validation).
    pub args: serde_json::Value,
    /// The incident the result was gathered for, if any.
    #[serde(default)]
    pub incident_id: Option<String>,
    /// Who ran it: a token's name, `draft` or `model`.
    pub ran_by: String,
    /// When it was first stored (wall clock).
    #[serde(rename = "at", with = "rfc3339")]
    pub at_ms: i64,
    /// One line for people.
    pub summary: String,
    /// The (bounded) result.
    pub result: serde_json::Value,
    /// Whether the result was cut to its size bound.
    pub truncated: bool,
}

/// What a snapshot list shows without the result body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHead {
    pub id: String,
    pub tool: String,
    #[serde(default)]
    pub incident_id: Option<String>,
    pub ran_by: String,
    #[serde(rename = "at", with = "rfc3339")]
    pub at_ms: i64,
    pub summary: String,
    pub truncated: bool,
}

impl Snapshot {
    /// The content-addressed id of a result.
    pub fn id_of(tool: &str, args: &serde_json::Value, result: &serde_json::Value) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in [tool.to_owned(), canonical(args), canonical(result)] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("tool-{hex}")
    }

    pub fn head(&self) -> SnapshotHead {
        SnapshotHead {
            id: self.id.clone(),
            tool: self.tool.clone(),
            incident_id: self.incident_id.clone(),
            ran_by: self.ran_by.clone(),
            at_ms: self.at_ms,
            summary: self.summary.clone(),
            truncated: self.truncated,
        }
    }
}

/// JSON with object keys sorted (serde_json's map is ordered by key already), so equal
/// values give equal text.
fn canonical(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

const COLUMNS: &str =
    "id, tool, args_json, incident_id, ran_by, at_ms, summary, result_json, truncated";

impl Ledger {
    /// Stores a snapshot (a result already held under its id is kept as first stored) and
    /// prunes the oldest beyond `keep`.
    pub async fn store_snapshot(&self, snapshot: &Snapshot, keep: usize) -> Result<(), Error> {
        let json = |value: &serde_json::Value, column: &'static str| {
            serde_json::to_string(value).map_err(|source| Error::StoredJson {
                id: snapshot.id.clone(),
                column,
                source,
            })
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tool_evidence ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(snapshot.id.as_str())
        .bind(snapshot.tool.as_str())
        .bind(json(&snapshot.args, "args_json")?)
        .bind(snapshot.incident_id.as_deref())
        .bind(snapshot.ran_by.as_str())
        .bind(snapshot.at_ms)
        .bind(snapshot.summary.as_str())
        .bind(json(&snapshot.result, "result_json")?)
        .bind(i64::from(snapshot.truncated))
        .execute(self.pool())
        .await
        .map_err(Error::db("write tool evidence"))?;
        let cutoff = sqlx::query(
            "SELECT at_ms FROM tool_evidence ORDER BY at_ms DESC, id LIMIT 1 OFFSET $1",
        )
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .fetch_optional(self.pool())
        .await
        .map_err(Error::db("find old tool evidence"))?;
        if let Some(row) = cutoff {
            let at: i64 = row
                .try_get("at_ms")
                .map_err(Error::db("decode tool evidence"))?;
            sqlx::query("DELETE FROM tool_evidence WHERE at_ms <= $1")
                .bind(at)
                .execute(self.pool())
                .await
                .map_err(Error::db("prune tool evidence"))?;
        }
        Ok(())
    }

    /// One snapshot by id.
    pub async fn snapshot(&self, id: &str) -> Result<Option<Snapshot>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tool_evidence WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(Error::db("read tool evidence"))?;
        row.as_ref().map(snapshot_of).transpose()
    }

    /// The newest snapshots (of one incident, or all), newest first, without their results.
    pub async fn snapshots(
        &self,
        incident_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SnapshotHead>, Error> {
        let (filter, bind) = match incident_id {
            Some(id) => ("WHERE incident_id = $1", Some(id)),
            None => ("", None),
        };
        let limit_at = if bind.is_some() { 2 } else { 1 };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tool_evidence {filter} ORDER BY at_ms DESC, id LIMIT ${limit_at}"
        )));
        if let Some(id) = bind {
            query = query.bind(id);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(Error::db("list tool evidence"))?;
        rows.iter()
            .map(|row| snapshot_of(row).map(|s| s.head()))
            .collect()
    }
}

fn snapshot_of(row: &sqlx::any::AnyRow) -> Result<Snapshot, Error> {
    let id: String = row
        .try_get("id")
        .map_err(Error::db("decode tool evidence"))?;
    let text = |column: &'static str| -> Result<String, Error> {
        row.try_get(column)
            .map_err(Error::db("decode tool evidence"))
    };
    let json = |column: &'static str| -> Result<serde_json::Value, Error> {
        serde_json::from_str(&text(column)?).map_err(|source| Error::StoredJson {
            id: id.clone(),
            column,
            source,
        })
    };
    Ok(Snapshot {
        tool: text("tool")?,
        args: json("args_json")?,
        incident_id: row
            .try_get("incident_id")
            .map_err(Error::db("decode tool evidence"))?,
        ran_by: text("ran_by")?,
        at_ms: row
            .try_get("at_ms")
            .map_err(Error::db("decode tool evidence"))?,
        summary: text("summary")?,
        result: json("result_json")?,
        truncated: row
            .try_get::<i64, _>("truncated")
            .map_err(Error::db("decode tool evidence"))?
            != 0,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_follow_content_not_key_order() {
        let a = Snapshot::id_of("logs.recent", &json!({"a": 1, "b": 2}), &json!([1]));
        let b = Snapshot::id_of("logs.recent", &json!({"b": 2, "a": 1}), &json!([1]));
        let c = Snapshot::id_of("logs.recent", &json!({"a": 1, "b": 2}), &json!([2]));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("tool-") && a.len() == 21, "{a}");
    }
}
