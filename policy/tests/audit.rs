//! The audit chain: a written log verifies under its key; an edited, removed, reordered or
//! cut-off entry is found with its line, and so is a chain recomputed without the key; an old
//! unkeyed log is sealed once; the key file is refused when others may read it; the pause
//! switch survives a restart.

use model::{Action, ObjectRef, ProposedAction, TargetKind};
use policy::audit::AUDIT_FILE;
use policy::{
    AuditEntry, AuditError, AuditKey, AuditKind, AuditLog, AuditRecord, PauseState, load_pause,
    save_pause,
};
use std::path::Path;

fn key() -> AuditKey {
    AuditKey::from_bytes(b"0123456789abcdef0123456789abcdef-test").unwrap()
}

fn verify(path: &Path) -> Result<usize, AuditError> {
    policy::verify(path, &key())
}

fn record(i: i64) -> AuditRecord {
    AuditRecord {
        at_ms: 1_000 + i,
        who: if i % 2 == 0 {
            "robot".into()
        } else {
            "alice (sre-oncall)".into()
        },
        kind: if i % 2 == 0 {
            AuditKind::Decision
        } else {
            AuditKind::Approved
        },
        incident_id: Some("inc-1".into()),
        action: Some(ProposedAction {
            action: Action::ScaleDeployment {
                replicas: 3 + i as u32,
            },
            target: ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
            incident_id: "inc-1".into(),
            evidence_ids: vec!["ev-1".into()],
            proposed_by: "rca".into(),
            confidence: None,
        }),
        why: "actions.scale_deployment".into(),
        detail: format!("step {i}"),
        evidence_ids: vec!["ev-1".into(), format!("ev-{i}")],
        before: Some(serde_json::json!({"replicas": 3, "labels": {"b": 1, "a": 2}})),
        after: Some(serde_json::json!({"replicas": 3 + i})),
    }
}

fn write_log(dir: &Path, n: i64) -> std::path::PathBuf {
    let path = dir.join(AUDIT_FILE);
    let mut log = AuditLog::open(&path, key()).unwrap();
    for i in 0..n {
        log.append(record(i)).unwrap();
    }
    path
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_written_log_verifies_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    assert_eq!(verify(&path).unwrap(), 5);
    // Reopening continues the chain.
    let mut log = AuditLog::open(&path, key()).unwrap();
    assert_eq!(log.len(), 5);
    let entry = log.append(record(5)).unwrap();
    assert_eq!(entry.seq, 5);
    assert_eq!(verify(&path).unwrap(), 6);
    let first = &lines(&path)[0];
    assert!(first.contains(r#""prev_hash":"0000"#));
    assert!(first.contains(r#""who":"robot""#));
}

#[test]
fn an_edited_entry_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    let mut l = lines(&path);
    l[1] = l[1].replace("alice (sre-oncall)", "mallory (sre-oncall)");
    assert!(l[1].contains("mallory"));
    rewrite(&path, &l);
    assert!(
        matches!(verify(&path), Err(AuditError::BadMac { line: 2, seq: 1 })),
        "{:?}",
        verify(&path)
    );
}

#[test]
fn an_edit_with_its_mac_recomputed_under_the_key_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 4);
    let mut l = lines(&path);
    let mut entry: AuditEntry = serde_json::from_str(&l[1]).unwrap();
    entry.record.detail = "nothing happened".into();
    entry.hash = policy::audit::entry_mac(&key(), entry.seq, &entry.record, &entry.prev_hash);
    l[1] = serde_json::to_string(&entry).unwrap();
    rewrite(&path, &l);
    assert!(
        matches!(
            verify(&path),
            Err(AuditError::ChainBroken { line: 3, seq: 2 })
        ),
        "{:?}",
        verify(&path)
    );
}

/// Rewrites every entry from `from` on with `detail` edited and the chain recomputed by `hash`,
/// head included, as someone who can write the data dir but lacks the key would.
fn recompute(path: &Path, from: usize, hash: impl Fn(&AuditEntry) -> (String, bool)) {
    let mut entries: Vec<AuditEntry> = lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut prev = if from == 0 {
        policy::audit::GENESIS_HASH.to_owned()
    } else {
        entries[from - 1].hash.clone()
    };
    for entry in entries.iter_mut().skip(from) {
        entry.record.detail = "nothing happened".into();
        entry.prev_hash = prev.clone();
        let (h, keyed) = hash(entry);
        entry.hash = h;
        entry.keyed = keyed;
        prev = entry.hash.clone();
    }
    let text: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    rewrite(path, &text);
    let last = entries.last().unwrap();
    std::fs::write(
        format!("{}.head", path.display()),
        serde_json::json!({"seq": last.seq, "hash": last.hash}).to_string(),
    )
    .unwrap();
}

#[test]
fn a_chain_recomputed_without_the_key_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    let original = lines(&path);

    // Plain SHA-256 in place of the MACs, still marked keyed.
    recompute(&path, 2, |e| {
        (
            policy::audit::entry_hash(e.seq, &e.record, &e.prev_hash),
            true,
        )
    });
    assert!(
        matches!(verify(&path), Err(AuditError::BadMac { line: 3, seq: 2 })),
        "{:?}",
        verify(&path)
    );
    // Without the key only the structure can be checked, and it holds: that is the point.
    assert_eq!(policy::audit::verify_unkeyed(&path).unwrap(), 5);

    // The tail recomputed as an unkeyed chain.
    rewrite(&path, &original);
    recompute(&path, 2, |e| {
        (
            policy::audit::entry_hash(e.seq, &e.record, &e.prev_hash),
            false,
        )
    });
    assert!(
        matches!(
            verify(&path),
            Err(AuditError::UnkeyedAfterKeyed { line: 3, seq: 2 })
        ),
        "{:?}",
        verify(&path)
    );

    // The whole log recomputed as an unkeyed chain.
    recompute(&path, 0, |e| {
        (
            policy::audit::entry_hash(e.seq, &e.record, &e.prev_hash),
            false,
        )
    });
    assert!(
        matches!(verify(&path), Err(AuditError::NotKeyed)),
        "{:?}",
        verify(&path)
    );

    // Another key's MACs.
    let other = AuditKey::from_bytes(&[7u8; 32]).unwrap();
    recompute(&path, 0, |e| {
        (
            policy::audit::entry_mac(&other, e.seq, &e.record, &e.prev_hash),
            true,
        )
    });
    assert!(
        matches!(verify(&path), Err(AuditError::BadMac { line: 1, seq: 0 })),
        "{:?}",
        verify(&path)
    );
    assert_eq!(policy::verify(&path, &other).unwrap(), 5);
    assert!(
        AuditLog::open(&path, key()).is_err(),
        "a log under another key is not appended to"
    );
}

#[test]
fn an_unkeyed_log_is_verified_once_and_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    // A log as written before keys: SHA-256 entries, `keyed` absent.
    let mut prev = policy::audit::GENESIS_HASH.to_owned();
    let mut text = String::new();
    for i in 0..3u64 {
        let record = record(i as i64);
        let hash = policy::audit::entry_hash(i, &record, &prev);
        let entry = AuditEntry {
            seq: i,
            record,
            prev_hash: prev.clone(),
            hash: hash.clone(),
            keyed: false,
        };
        let line = serde_json::to_string(&entry).unwrap();
        assert!(!line.contains("keyed"));
        text.push_str(&line);
        text.push('\n');
        prev = hash;
    }
    std::fs::write(&path, text).unwrap();
    assert!(matches!(verify(&path), Err(AuditError::NotKeyed)));

    let mut log = AuditLog::open(&path, key()).unwrap();
    assert_eq!(log.len(), 4, "the seal is entry 3");
    assert_eq!(log.head_seq(), Some(3));
    log.append(record(4)).unwrap();
    assert_eq!(verify(&path).unwrap(), 5);
    let sealed: AuditEntry = serde_json::from_str(&lines(&path)[3]).unwrap();
    assert_eq!(sealed.record.kind, AuditKind::ChainSealed);
    assert!(sealed.keyed);
    assert_eq!(
        sealed.record.before.as_ref().unwrap()["hash"],
        prev.as_str()
    );
    assert_eq!(policy::audit::head_seq(&path), Some(4));
    // Reopening does not seal again.
    assert_eq!(AuditLog::open(&path, key()).unwrap().len(), 5);

    // An edit of the old part now breaks the keyed seal's link.
    let mut l = lines(&path);
    let mut first: AuditEntry = serde_json::from_str(&l[0]).unwrap();
    first.record.detail = "rewritten".into();
    l[0] = serde_json::to_string(&first).unwrap();
    rewrite(&path, &l);
    assert!(matches!(
        verify(&path),
        Err(AuditError::Edited { line: 1, seq: 0 })
    ));
}

#[cfg(unix)]
#[test]
fn a_key_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    AuditKey::create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    AuditKey::load(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = AuditKey::load(&path).unwrap_err();
    assert!(
        matches!(error, AuditError::KeyPermissions { mode: 0o640, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("chmod 600"), "{error}");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "tiny\n").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        AuditKey::load(&short),
        Err(AuditError::KeyTooShort { len: 4, .. })
    ));
    assert_eq!(format!("{:?}", key()), "AuditKey(redacted)");
}

#[test]
fn a_removed_entry_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    let mut l = lines(&path);
    l.remove(1);
    rewrite(&path, &l);
    assert!(matches!(
        verify(&path),
        Err(AuditError::Removed {
            line: 2,
            expected_seq: 1,
            found_seq: 2
        })
    ));
}

#[test]
fn reordered_entries_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    let original = lines(&path);
    // Two neighbours swapped.
    let mut l = original.clone();
    l.swap(1, 2);
    rewrite(&path, &l);
    assert!(
        matches!(
            verify(&path),
            Err(AuditError::Reordered {
                line: 2,
                expected_seq: 1,
                found_seq: 2
            })
        ),
        "{:?}",
        verify(&path)
    );
    // The last entry moved to the front.
    let mut l = original.clone();
    let last = l.pop().unwrap();
    l.insert(0, last);
    rewrite(&path, &l);
    assert!(
        matches!(
            verify(&path),
            Err(AuditError::Reordered {
                line: 1,
                expected_seq: 0,
                found_seq: 4
            })
        ),
        "{:?}",
        verify(&path)
    );
    // Put back, it verifies again.
    rewrite(&path, &original);
    assert_eq!(verify(&path).unwrap(), 5);
}

#[test]
fn an_earlier_entry_after_a_later_one_is_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 4);
    let mut l = lines(&path);
    // 0,1,2,3 -> 0,1,1',... : put entry 0 again where 2 was and drop 2,3.
    let zero = l[0].clone();
    l.truncate(2);
    l.push(zero);
    rewrite(&path, &l);
    assert!(matches!(
        verify(&path),
        Err(AuditError::Reordered {
            line: 3,
            expected_seq: 2,
            found_seq: 0
        })
    ));
}

#[test]
fn cutting_off_the_tail_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 5);
    let mut l = lines(&path);
    l.truncate(3);
    rewrite(&path, &l);
    assert!(matches!(
        verify(&path),
        Err(AuditError::HeadMismatch {
            last_seq: Some(2),
            head_seq: 4
        })
    ));
    // A broken log is not appended to.
    assert!(AuditLog::open(&path, key()).is_err());
}

#[test]
fn pause_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!load_pause(dir.path()).unwrap().paused);
    let state = PauseState {
        paused: true,
        changed_by: Some("alice".into()),
        changed_at_ms: Some(42),
        reason: Some("incident review".into()),
    };
    save_pause(dir.path(), &state).unwrap();
    assert_eq!(load_pause(dir.path()).unwrap(), state);
    save_pause(dir.path(), &PauseState::default()).unwrap();
    assert!(!load_pause(dir.path()).unwrap().paused);
}
