//! The audit chain: a written log verifies; an edited, removed, reordered or cut-off entry is
//! found with its line; the pause switch survives a restart.

use model::{Action, ObjectRef, ProposedAction, TargetKind};
use policy::audit::AUDIT_FILE;
use policy::{
    AuditError, AuditKind, AuditLog, AuditRecord, PauseState, load_pause, save_pause, verify,
};
use std::path::Path;

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
    let mut log = AuditLog::open(&path).unwrap();
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
    let mut log = AuditLog::open(&path).unwrap();
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
        matches!(verify(&path), Err(AuditError::Edited { line: 2, seq: 1 })),
        "{:?}",
        verify(&path)
    );
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 4);
    let mut l = lines(&path);
    let mut entry: policy::AuditEntry = serde_json::from_str(&l[1]).unwrap();
    entry.record.detail = "nothing happened".into();
    entry.hash = policy::audit::entry_hash(entry.seq, &entry.record, &entry.prev_hash);
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
    assert!(AuditLog::open(&path).is_err());
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
