//! The audit log: an append-only JSON-lines file in which every entry carries the hash of the
//! one before it and its own SHA-256 over canonical JSON, so edits, removals and reorders show.
//!
//! Every decision, approval step, execution and pause is written here: who, what, why (the
//! policy clause), evidence ids, and the before and after state. A `.head` file beside the log
//! remembers the last sequence number and hash, so cutting entries off the end shows too.

use model::ProposedAction;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// File name of the audit log inside the data dir.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Decision,
    ApprovalRequested,
    Approved,
    Rejected,
    Modified,
    Executed,
    ExecutionFailed,
    /// An execution attempt without a valid authorization.
    Refused,
    Paused,
    Resumed,
    Verified,
    /// The policy file was read again and replaced the running policy.
    PolicyReloaded,
    /// A policy reload was refused (invalid file); the running policy stayed.
    PolicyReloadRefused,
}

/// What the caller records; the log adds sequence and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_ms: i64,
    /// `robot`, or the person (and role) who acted.
    pub who: String,
    pub kind: AuditKind,
    #[serde(default)]
    pub incident_id: Option<String>,
    /// The action concerned, if any.
    #[serde(default)]
    pub action: Option<ProposedAction>,
    /// Why: the policy clause that decided, or the reason of the step.
    pub why: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    #[serde(default)]
    pub before: Option<Value>,
    #[serde(default)]
    pub after: Option<Value>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Why the audit log cannot be written or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log line {line}: not an audit entry")]
    Malformed {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("audit log line {line}: entry {seq} was edited (its hash does not match)")]
    Edited { line: usize, seq: u64 },
    #[error(
        "audit log line {line}: expected entry {expected_seq}, found {found_seq}: entries were removed"
    )]
    Removed {
        line: usize,
        expected_seq: u64,
        found_seq: u64,
    },
    #[error(
        "audit log line {line}: expected entry {expected_seq}, found {found_seq}: entries were reordered"
    )]
    Reordered {
        line: usize,
        expected_seq: u64,
        found_seq: u64,
    },
    #[error("audit log line {line}: entry {seq} does not follow the previous entry's hash")]
    ChainBroken { line: usize, seq: u64 },
    #[error(
        "audit log ends at entry {last_seq:?} but its head records entry {head_seq}: entries \
         were cut off or added outside the log"
    )]
    HeadMismatch {
        last_seq: Option<u64>,
        head_seq: u64,
    },
}

impl model::Classify for AuditError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::Internal
    }
}

/// Canonical JSON: object keys sorted at every depth, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of an entry: SHA-256 over the canonical JSON of everything but `hash`.
pub fn entry_hash(seq: u64, record: &AuditRecord, prev_hash: &str) -> String {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), Value::from(seq));
        map.insert("prev_hash".into(), Value::from(prev_hash));
    }
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

fn head_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The append-only log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    last_hash: String,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is already there.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let entries = if path.exists() {
            verify_entries(path)?
        } else {
            Vec::new()
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (next_seq, last_hash) = match entries.last() {
            Some(last) => (last.seq + 1, last.hash.clone()),
            None => (0, GENESIS_HASH.to_owned()),
        };
        Ok(AuditLog {
            path: path.to_owned(),
            file,
            next_seq,
            last_hash,
        })
    }

    /// Opens `data_dir/audit.jsonl`.
    pub fn open_in(data_dir: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open(&data_dir.join(AUDIT_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of entries written so far.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Appends one record and syncs it to disk.
    pub fn append(&mut self, record: AuditRecord) -> Result<AuditEntry, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let seq = self.next_seq;
        let hash = entry_hash(seq, &record, &self.last_hash);
        let entry = AuditEntry {
            seq,
            record,
            prev_hash: self.last_hash.clone(),
            hash,
        };
        let mut line = serde_json::to_string(&entry).map_err(|e| AuditError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        let head = serde_json::to_string(&Head {
            seq,
            hash: entry.hash.clone(),
        })
        .unwrap_or_default();
        let head_file = head_path(&self.path);
        let tmp = head_file.with_extension("head.tmp");
        std::fs::write(&tmp, head)
            .and_then(|()| std::fs::rename(&tmp, &head_file))
            .map_err(io)?;
        self.next_seq += 1;
        self.last_hash = entry.hash.clone();
        Ok(entry)
    }
}

/// Reads every entry without checking the chain (for listing).
pub fn read_entries(path: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    let file = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut entries = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|source| AuditError::Malformed {
            line: i + 1,
            source,
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

fn verify_entries(path: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    let entries = read_entries(path)?;
    let mut prev = GENESIS_HASH.to_owned();
    for (i, entry) in entries.iter().enumerate() {
        let line = i + 1;
        let expected = i as u64;
        if entry.hash != entry_hash(entry.seq, &entry.record, &entry.prev_hash) {
            return Err(AuditError::Edited {
                line,
                seq: entry.seq,
            });
        }
        // A missing sequence number that turns up later means the lines were moved.
        if entry.seq > expected && !entries[i..].iter().any(|e| e.seq == expected) {
            return Err(AuditError::Removed {
                line,
                expected_seq: expected,
                found_seq: entry.seq,
            });
        }
        if entry.seq != expected {
            return Err(AuditError::Reordered {
                line,
                expected_seq: expected,
                found_seq: entry.seq,
            });
        }
        if entry.prev_hash != prev {
            return Err(AuditError::ChainBroken {
                line,
                seq: entry.seq,
            });
        }
        prev = entry.hash.clone();
    }
    let head_file = head_path(path);
    if let Ok(text) = std::fs::read_to_string(&head_file)
        && let Ok(head) = serde_json::from_str::<Head>(&text)
    {
        let last = entries.last();
        let matches = last.is_some_and(|e| e.seq == head.seq && e.hash == head.hash);
        if !matches {
            return Err(AuditError::HeadMismatch {
                last_seq: last.map(|e| e.seq),
                head_seq: head.seq,
            });
        }
    }
    Ok(entries)
}

/// Verifies the whole chain; returns the number of entries.
pub fn verify(path: &Path) -> Result<usize, AuditError> {
    verify_entries(path).map(|entries| entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#)
            .unwrap_or(Value::Null);
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }
}
