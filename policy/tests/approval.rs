//! Approvals: a token approves once, for its action and role, before it expires; every
//! refusal names its reason; the key file is created private and reused.

use model::{Action, IncidentType, ObjectRef, ProposedAction, RiskClass, Severity, TargetKind};
use policy::{
    ApprovalError, ApprovalKey, ApprovalStatus, Approvals, ApproverIdentity, Authorization,
    History, IncidentView, LiveObject, NotAuthorized, Policy, Verdict, check_file, decide,
};
use std::path::PathBuf;

const NOW: i64 = 1_795_428_000_000;
const TTL: i64 = 15 * 60_000;
const LIVE: LiveObject = LiveObject {
    replicas: Some(3),
    pods: Some(3),
    nodes_total: Some(6),
    nodes_unschedulable: Some(0),
};

fn prod() -> Policy {
    check_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/prod.toml")).unwrap()
}

fn incident() -> IncidentView {
    IncidentView {
        id: "inc-1".into(),
        incident_type: IncidentType::CrashLoop,
        severity: Severity::Critical,
        namespace: Some("shop".into()),
        target: None,
        origins: [model::Origin::Rules].into(),
    }
}

fn restart() -> ProposedAction {
    ProposedAction {
        action: Action::ScaleDeployment { replicas: 4 },
        target: ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
        incident_id: "inc-1".into(),
        evidence_ids: vec![],
        proposed_by: "rca".into(),
        confidence: None,
    }
}

fn oncall() -> ApproverIdentity {
    ApproverIdentity {
        name: "alice".into(),
        role: "sre-oncall".into(),
    }
}

/// Opens a request in prod and returns the book, the id and the on-call token.
fn open() -> (Approvals, String, String) {
    let p = prod();
    let d = decide(
        &incident(),
        &restart(),
        &p,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert_eq!(d.verdict, Verdict::NeedsApproval);
    let mut book = Approvals::new(ApprovalKey::random(), TTL);
    let (req, tokens) = book.request(incident(), restart(), d, &p, NOW).unwrap();
    assert_eq!(tokens.len(), 2, "both roles may approve the approval class");
    let token = tokens
        .iter()
        .find(|t| t.role == "sre-oncall")
        .unwrap()
        .token
        .clone();
    (book, req.id, token)
}

#[test]
fn approve_once_then_reuse_is_refused() {
    let (mut book, id, token) = open();
    let auth = book
        .approve(
            &id,
            &token,
            &oncall(),
            &prod(),
            &History::default(),
            Some(&LIVE),
            NOW + 1000,
        )
        .unwrap();
    assert_eq!(auth.approval().unwrap().approver.name, "alice");
    assert!(auth.covers(&restart()));
    assert_eq!(book.get(&id).unwrap().status, ApprovalStatus::Approved);
    let again = book.approve(
        &id,
        &token,
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW + 2000,
    );
    assert!(
        matches!(again, Err(ApprovalError::Reused { .. })),
        "{again:?}"
    );
    assert!(book.list(Some(ApprovalStatus::Pending), NOW).is_empty());
}

#[test]
fn expired_token_is_refused() {
    let (mut book, id, token) = open();
    let late = book.approve(
        &id,
        &token,
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW + TTL,
    );
    assert!(
        matches!(late, Err(ApprovalError::Expired { .. })),
        "{late:?}"
    );
    assert_eq!(book.list(Some(ApprovalStatus::Expired), NOW + TTL).len(), 1);
}

#[test]
fn tampered_tokens_are_refused() {
    let (mut book, id, token) = open();
    let (payload, sig) = token.split_once('.').unwrap();
    // Flip one signature character.
    let mut bad_sig = sig.to_owned().into_bytes();
    bad_sig[3] = if bad_sig[3] == b'A' { b'B' } else { b'A' };
    let forged = format!("{payload}.{}", String::from_utf8(bad_sig).unwrap());
    let r = book.approve(
        &id,
        &forged,
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(matches!(r, Err(ApprovalError::Tampered { .. })), "{r:?}");
    // Rewrite the claims (role) keeping the signature.
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(e.decode(payload).unwrap()).unwrap();
    let changed = e.encode(claims.replace("sre-oncall", "platform-lead"));
    let r = book.approve(
        &id,
        &format!("{changed}.{sig}"),
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(matches!(r, Err(ApprovalError::Tampered { .. })), "{r:?}");
    // A token signed by another key.
    let (other, other_id, other_token) = open();
    drop(other);
    let r = book.approve(
        &id,
        &other_token,
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(
        matches!(r, Err(ApprovalError::Tampered { .. })),
        "{r:?} {other_id}"
    );
    assert!(matches!(
        book.approve(
            &id,
            "garbage",
            &oncall(),
            &prod(),
            &History::default(),
            Some(&LIVE),
            NOW
        ),
        Err(ApprovalError::Tampered { .. })
    ));
    // The genuine token still works: failed attempts do not consume it.
    book.approve(
        &id,
        &token,
        &oncall(),
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    )
    .unwrap();
}

#[test]
fn wrong_permission_is_refused() {
    let (mut book, id, token) = open();
    // The on-call token presented by someone whose credential carries another role.
    let intruder = ApproverIdentity {
        name: "mallory".into(),
        role: "viewer".into(),
    };
    let r = book.approve(
        &id,
        &token,
        &intruder,
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(
        matches!(r, Err(ApprovalError::WrongPermission { .. })),
        "{r:?}"
    );
    // Permission is checked at approval time: a policy that no longer lets the role approve.
    let mut stricter = prod();
    stricter.approvers.retain(|a| a.role != "sre-oncall");
    let r = book.approve(
        &id,
        &token,
        &oncall(),
        &stricter,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(
        matches!(
            r,
            Err(ApprovalError::WrongPermission {
                risk: RiskClass::Approval,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(matches!(
        book.issue_token(&id, "viewer", &prod(), NOW),
        Err(ApprovalError::WrongPermission { .. })
    ));
}

#[test]
fn approval_redecides_and_refuses_when_cooldown_started() {
    let (mut book, id, token) = open();
    let mut h = History::default();
    let other = ProposedAction {
        action: Action::RestartDeployment,
        ..restart()
    };
    h.record(&other, NOW + 500);
    let r = book.approve(&id, &token, &oncall(), &prod(), &h, Some(&LIVE), NOW + 1000);
    match r {
        Err(ApprovalError::Refused { clause, .. }) => assert_eq!(clause, "cooldown.per_incident"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reject_consumes_and_modify_redecides() {
    let (mut book, id, token) = open();
    book.reject(&id, &token, &oncall(), "not now", &prod(), NOW)
        .unwrap();
    assert_eq!(book.get(&id).unwrap().status, ApprovalStatus::Rejected);
    assert_eq!(book.get(&id).unwrap().note.as_deref(), Some("not now"));

    // Modify within policy: scale to 5 instead of 4 (2 replicas changed, the prod limit).
    let (mut book, id, token) = open();
    let over = book.modify(
        &id,
        &token,
        &oncall(),
        Action::ScaleDeployment { replicas: 9 },
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    match over {
        Err(ApprovalError::Refused { clause, .. }) => {
            assert_eq!(clause, "blast_radius.max_replicas_changed")
        }
        other => panic!("{other:?}"),
    }
    let swap = book.modify(
        &id,
        &token,
        &oncall(),
        Action::RestartDeployment,
        &prod(),
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert!(matches!(
        swap,
        Err(ApprovalError::InvalidModification { .. })
    ));
    let auth = book
        .modify(
            &id,
            &token,
            &oncall(),
            Action::ScaleDeployment { replicas: 5 },
            &prod(),
            &History::default(),
            Some(&LIVE),
            NOW,
        )
        .unwrap();
    assert_eq!(
        auth.proposed().action,
        Action::ScaleDeployment { replicas: 5 }
    );
    assert!(
        !auth.covers(&restart()),
        "the original parameters are no longer authorized"
    );
    assert!(
        book.get(&id)
            .unwrap()
            .note
            .as_deref()
            .unwrap()
            .contains("modified")
    );
}

#[test]
fn only_automatic_decisions_authorize_directly() {
    let p = prod();
    let d = decide(
        &incident(),
        &restart(),
        &p,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    let r = Authorization::automatic(restart(), d.clone());
    assert!(matches!(
        r,
        Err(NotAuthorized::NotAutomatic {
            verdict: Verdict::NeedsApproval,
            ..
        })
    ));
    let mut book = Approvals::new(ApprovalKey::random(), TTL);
    let mut forged = d;
    forged.verdict = Verdict::Auto;
    let other = ProposedAction {
        action: Action::ScaleDeployment { replicas: 1 },
        ..restart()
    };
    assert_eq!(
        Authorization::automatic(other, forged.clone()).unwrap_err(),
        NotAuthorized::WrongAction
    );
    assert!(matches!(
        book.request(incident(), restart(), forged, &p, NOW),
        Err(ApprovalError::NotApprovable {
            verdict: Verdict::Auto
        })
    ));
}

#[test]
fn key_file_is_private_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let _ = ApprovalKey::load_or_create(dir.path()).unwrap();
    let path = dir.path().join(policy::approval::KEY_FILE);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Tokens from the first key verify with the reloaded key.
    let p = prod();
    let d = decide(
        &incident(),
        &restart(),
        &p,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    let mut first = Approvals::new(ApprovalKey::load_or_create(dir.path()).unwrap(), TTL);
    let (req, tokens) = first.request(incident(), restart(), d, &p, NOW).unwrap();
    let mut second = Approvals::with_state(
        ApprovalKey::load_or_create(dir.path()).unwrap(),
        TTL,
        first.state().clone(),
    );
    second
        .approve(
            &req.id,
            &tokens[1].token,
            &ApproverIdentity {
                name: "a".into(),
                role: tokens[1].role.clone(),
            },
            &p,
            &History::default(),
            Some(&LIVE),
            NOW,
        )
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        ApprovalKey::load_or_create(dir.path()),
        Err(ApprovalError::Key { .. })
    ));
}
