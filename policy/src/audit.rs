//! The audit log: an append-only JSON-lines file in which every entry carries the hash of the
//! one before it and its own HMAC-SHA-256, under a key kept outside the data dir, over its
//! canonical JSON (RFC 8785), so edits, removals, reorders and a chain recomputed without the
//! key all show.
//!
//! Every decision, approval step, execution and pause is written here: who, what, why (the
//! policy clause), evidence ids, and the before and after state. A `.head` file beside the log
//! remembers the last sequence number and hash, so cutting entries off the end shows too
//! (unless the head is rewritten as well: export it, see `srebot_audit_head_seq`). A log
//! written before keys (plain SHA-256 entries, `keyed` absent) is verified once when opened
//! with a key and sealed by a keyed `chain_sealed` entry; no unkeyed entry may follow a keyed one.

use hmac::{Hmac, Mac};
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
    /// The unkeyed chain before this entry was verified and is sealed under the audit key.
    ChainSealed,
    /// An operator acknowledged an incident.
    Acknowledged,
    /// An operator gave an incident to someone.
    Assigned,
    /// An operator commented on an incident.
    Commented,
    /// An operator resolved an incident by hand.
    ResolvedByHand,
    /// An operator merged one incident into another.
    Merged,
    /// An operator's verdict on an incident (useful, noise, wrong cause).
    Feedback,
    /// A suppression window was added (workspace or chat).
    SuppressionAdded,
    /// A suppression window was removed.
    SuppressionRemoved,
    /// Operator rule overrides were saved and reloaded.
    RulesSaved,
    /// The policy's allowlist was edited, saved and reloaded.
    AllowlistSaved,
    /// A rule suggestion was accepted (by a person, or automatically in training).
    SuggestionAccepted,
    /// A rule suggestion was rejected.
    SuggestionRejected,
    /// A demo scenario was played into the server.
    DemoStarted,
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
    /// SHA-256 (unkeyed entries) or HMAC-SHA-256 under the audit key (keyed entries) over the
    /// canonical JSON of every other field.
    pub hash: String,
    /// Whether `hash` is an HMAC under the audit key; absent in logs written before keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyed: bool,
}

/// The key of the audit chain's HMACs: at least 32 bytes read from a file only its owner may
/// read. Never printed.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(redacted)")
    }
}

/// Fewest key bytes accepted.
pub const MIN_KEY_BYTES: usize = 32;

impl AuditKey {
    /// A key from its bytes (tests, and keys kept elsewhere than a file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(AuditError::KeyTooShort {
                path: PathBuf::new(),
                len: bytes.len(),
            });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Reads a key file: its bytes less trailing whitespace, at least 32 of them. Refused if
    /// group or others may read or write it.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Key {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(AuditError::KeyPermissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let mut bytes = std::fs::read(path).map_err(io)?;
        while bytes.last().is_some_and(u8::is_ascii_whitespace) {
            bytes.pop();
        }
        if bytes.len() < MIN_KEY_BYTES {
            return Err(AuditError::KeyTooShort {
                path: path.to_owned(),
                len: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// Writes a new random key (64 hex characters) to `path`, mode 0600, and returns it.
    pub fn create(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Key {
            path: path.to_owned(),
            source,
        };
        let bytes: [u8; 32] = rand::random();
        let text = hex::encode(bytes);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self(text.into_bytes()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
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
        "audit log line {line}: entry {seq} does not carry the key's MAC: it was edited, the \
         chain was recomputed without the key, or this is not the log's key"
    )]
    BadMac { line: usize, seq: u64 },
    #[error(
        "audit log line {line}: entry {seq} is unkeyed after a keyed entry: the chain was \
         recomputed without the key"
    )]
    UnkeyedAfterKeyed { line: usize, seq: u64 },
    #[error(
        "audit log holds no keyed entry: written before keys (open it with the key to seal it) \
         or recomputed without the key"
    )]
    NotKeyed,
    #[error(
        "[policy] audit_key_file is required with a policy: give a file of at least 32 random \
         bytes, mode 0600, outside the data dir (e.g. `head -c 32 /dev/urandom | base64 > key`)"
    )]
    KeyRequired,
    #[error("audit key file {path}")]
    Key {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit key file {path} has mode {mode:o}: group or others may read it; chmod 600 it")]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("audit key file {path} holds {len} bytes; at least 32 are needed")]
    KeyTooShort { path: PathBuf, len: usize },
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

fn hashed_value(seq: u64, record: &AuditRecord, prev_hash: &str, keyed: bool) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), Value::from(seq));
        map.insert("prev_hash".into(), Value::from(prev_hash));
        if keyed {
            map.insert("keyed".into(), Value::Bool(true));
        }
    }
    value
}

/// The hash of an unkeyed entry (logs written before keys): SHA-256 over the sorted-key JSON
/// of everything but `hash`. Anyone can recompute it; kept to verify old logs.
pub fn entry_hash(seq: u64, record: &AuditRecord, prev_hash: &str) -> String {
    let value = hashed_value(seq, record, prev_hash, false);
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

/// RFC 8785 canonical JSON of a keyed entry's fields (everything but `hash`).
fn keyed_bytes(seq: u64, record: &AuditRecord, prev_hash: &str) -> Vec<u8> {
    let value = hashed_value(seq, record, prev_hash, true);
    serde_jcs::to_vec(&value).unwrap_or_default()
}

/// The HMAC-SHA-256 of a keyed entry under `key`, hex.
pub fn entry_mac(key: &AuditKey, seq: u64, record: &AuditRecord, prev_hash: &str) -> String {
    let mut mac = key.mac();
    mac.update(&keyed_bytes(seq, record, prev_hash));
    hex::encode(mac.finalize().into_bytes())
}

fn mac_matches(key: &AuditKey, entry: &AuditEntry) -> bool {
    let Ok(expected) = hex::decode(&entry.hash) else {
        return false;
    };
    let mut mac = key.mac();
    mac.update(&keyed_bytes(entry.seq, &entry.record, &entry.prev_hash));
    // Constant-time comparison.
    mac.verify_slice(&expected).is_ok()
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

/// The append-only log, keyed.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    key: AuditKey,
    next_seq: u64,
    last_hash: String,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is already there under `key`; a
    /// log written before keys is verified as it was written and sealed by a keyed entry.
    pub fn open(path: &Path, key: AuditKey) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let entries = if path.exists() {
            check(path, Some(&key), false)?
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
        let mut log = AuditLog {
            path: path.to_owned(),
            file,
            key,
            next_seq,
            last_hash,
        };
        if let Some(last) = entries.last().filter(|e| !e.keyed) {
            log.append(AuditRecord {
                at_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
                who: "srebot".into(),
                kind: AuditKind::ChainSealed,
                incident_id: None,
                action: None,
                why: "audit chain keyed".into(),
                detail: format!(
                    "entries 0..={} of the unkeyed SHA-256 chain verified and sealed under the \
                     audit key",
                    last.seq
                ),
                evidence_ids: Vec::new(),
                before: Some(serde_json::json!({ "seq": last.seq, "hash": last.hash })),
                after: None,
            })?;
        }
        Ok(log)
    }

    /// Opens `data_dir/audit.jsonl`.
    pub fn open_in(data_dir: &Path, key: AuditKey) -> Result<AuditLog, AuditError> {
        AuditLog::open(&data_dir.join(AUDIT_FILE), key)
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

    /// Sequence number of the newest entry; `None` while the log is empty.
    pub fn head_seq(&self) -> Option<u64> {
        self.next_seq.checked_sub(1)
    }

    /// Verifies the whole file under this log's key; the number of entries.
    pub fn verify(&self) -> Result<usize, AuditError> {
        verify(&self.path, &self.key)
    }

    /// Appends one record, keyed, and syncs it to disk.
    pub fn append(&mut self, record: AuditRecord) -> Result<AuditEntry, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let seq = self.next_seq;
        let hash = entry_mac(&self.key, seq, &record, &self.last_hash);
        let entry = AuditEntry {
            seq,
            record,
            prev_hash: self.last_hash.clone(),
            hash,
            keyed: true,
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

/// The newest entry's sequence number and hash, as the `.head` file beside `path` records.
pub fn head_of(path: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(head_path(path)).ok()?;
    serde_json::from_str::<Head>(&text)
        .ok()
        .map(|h| (h.seq, h.hash))
}

/// The newest sequence number the `.head` file beside `path` records, if any.
pub fn head_seq(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(head_path(path)).ok()?;
    serde_json::from_str::<Head>(&text).ok().map(|h| h.seq)
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

/// Checks order, chain and hashes: unkeyed entries by SHA-256, keyed ones by HMAC when `key`
/// is given (else only their place in the chain). With `require_keyed` the chain must end
/// in a keyed entry, so a chain recomputed without the key, all unkeyed, is refused.
fn check(
    path: &Path,
    key: Option<&AuditKey>,
    require_keyed: bool,
) -> Result<Vec<AuditEntry>, AuditError> {
    let entries = read_entries(path)?;
    let mut prev = GENESIS_HASH.to_owned();
    let mut keyed_seen = false;
    for (i, entry) in entries.iter().enumerate() {
        let line = i + 1;
        let expected = i as u64;
        let seq = entry.seq;
        if entry.keyed {
            keyed_seen = true;
            if key.is_some_and(|key| !mac_matches(key, entry)) {
                return Err(AuditError::BadMac { line, seq });
            }
        } else if keyed_seen {
            return Err(AuditError::UnkeyedAfterKeyed { line, seq });
        } else if entry.hash != entry_hash(entry.seq, &entry.record, &entry.prev_hash) {
            return Err(AuditError::Edited { line, seq });
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
            return Err(AuditError::ChainBroken { line, seq });
        }
        prev = entry.hash.clone();
    }
    if require_keyed && entries.last().is_some_and(|e| !e.keyed) {
        return Err(AuditError::NotKeyed);
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

/// Verifies the whole chain under `key`; returns the number of entries.
pub fn verify(path: &Path, key: &AuditKey) -> Result<usize, AuditError> {
    check(path, Some(key), true).map(|entries| entries.len())
}

/// Verifies order, chain links and unkeyed hashes without the key. A chain recomputed
/// without the key passes this; only [`verify`] with the key tells.
pub fn verify_unkeyed(path: &Path) -> Result<usize, AuditError> {
    check(path, None, false).map(|entries| entries.len())
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
