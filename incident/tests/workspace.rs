//! The operator workspace's ledger: paged lists with filters and counts, operator notes on
//! held and stored incidents, merging by hand, feedback, suppression windows that open
//! incidents as suppressed, and rule suggestions. `exercise_workspace` runs on PostgreSQL too.

use crate::common::candidate;
use incident::{
    CorrelatorConfig, Feedback, IncidentEngine, IncidentQuery, Ledger, RuleSuggestion,
    SuggestionStatus, Suppression, SuppressionOrigin, TimelineKind, Verdict, WindowTime,
};
use model::{Domain, IncidentStatus, IncidentType, Scope};

const START: i64 = 1_767_574_800_000;

fn quiet_window(signature: Option<String>, until: i64) -> Suppression {
    Suppression {
        id: "sup-test".into(),
        origin: SuppressionOrigin::Workspace,
        name: "checkout latency".into(),
        signature,
        namespaces: Vec::new(),
        incident_types: Vec::new(),
        time: WindowTime::Once {
            start_ms: START,
            end_ms: until,
        },
        reason: "known slow batch".into(),
        created_by: "alice (sre-oncall)".into(),
        created_at_ms: START,
        removed_by: None,
        removed_at_ms: None,
    }
}

pub(crate) async fn exercise_workspace(ledger: Ledger) {
    let engine = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let mut batch = Vec::new();
    for (i, name) in ["payments-api", "checkout", "catalogue"].iter().enumerate() {
        batch.push(candidate(
            IncidentType::CrashLoop,
            Scope::Deployment,
            name,
            Some("shop"),
            None,
            START + i as i64 * 1_000,
        ));
    }
    batch.push(candidate(
        IncidentType::NodeNotReady,
        Scope::Node,
        "node-z",
        None,
        None,
        START + 10_000,
    ));
    engine.submit(batch).await.unwrap();

    // Pages: newest opened first, totals and counts per domain under the other filters.
    let page = ledger
        .page(&IncidentQuery {
            per_page: 2,
            page: 1,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(page.rows.len(), 2);
    assert_eq!(page.rows[0].target.name, "node-z");
    assert_eq!(
        page.domains,
        vec![
            (Domain::Infrastructure, 1),
            (Domain::ApplicationServices, 3)
        ]
    );
    let second = ledger
        .page(&IncidentQuery {
            per_page: 2,
            page: 2,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(second.rows.len(), 2);
    let filtered = ledger
        .page(&IncidentQuery {
            domain: Some(Domain::Infrastructure),
            text: Some("NODE-Z".into()),
            source: Some(model::DEFAULT_SOURCE.to_owned()),
            per_page: 50,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.total, 1, "{filtered:#?}");
    // Domain counts ignore the domain filter, so the other domains stay browsable.
    assert_eq!(filtered.domains, vec![(Domain::Infrastructure, 1)]);
    let none = ledger
        .page(&IncidentQuery {
            text: Some("100%_".into()),
            per_page: 50,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(none.total, 0, "LIKE wildcards in the text are literal");
    let by_type = ledger
        .page(&IncidentQuery {
            incident_type: Some(IncidentType::CrashLoop),
            per_page: 50,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_type.total, 3);

    let id = |target: &str| {
        by_type
            .rows
            .iter()
            .chain(page.rows.iter())
            .find(|r| r.target.name == target)
            .unwrap()
            .id
            .clone()
    };
    let payments = id("payments-api");
    let checkout = id("checkout");

    // Acknowledge and assign: fields and timeline, in the correlator's order of events.
    engine
        .annotate(
            &payments,
            TimelineKind::Acknowledged,
            START + 20_000,
            "acknowledged by alice".into(),
            |i| {
                i.acknowledged_by = Some("alice".into());
                i.acknowledged_at_ms = Some(START + 20_000);
            },
        )
        .await
        .unwrap();
    engine
        .annotate(
            &payments,
            TimelineKind::Assigned,
            START + 21_000,
            "assigned to bob by alice".into(),
            |i| i.assignee = Some("bob".into()),
        )
        .await
        .unwrap();
    let detail = ledger.detail(&payments).await.unwrap().unwrap();
    assert_eq!(detail.summary.assignee.as_deref(), Some("bob"));
    assert_eq!(detail.summary.acknowledged_by.as_deref(), Some("alice"));
    assert!(detail.acknowledged_at.is_some());
    let kinds: Vec<TimelineKind> = detail.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Acknowledged,
            TimelineKind::Assigned
        ]
    );
    // Later correlator events keep numbering after the operator's.
    engine
        .submit(vec![candidate(
            IncidentType::OomKilled,
            Scope::Deployment,
            "payments-api",
            Some("shop"),
            None,
            START + 30_000,
        )])
        .await
        .unwrap();
    let detail = ledger.detail(&payments).await.unwrap().unwrap();
    let seqs: Vec<u64> = detail.timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(detail.summary.assignee.as_deref(), Some("bob"), "kept");

    // Merge by hand: checkout's findings move into payments-api's incident.
    let changes = engine
        .merge(&payments, &checkout, START + 40_000, "alice")
        .await
        .unwrap();
    assert_eq!(changes.len(), 2);
    let merged = ledger.incident(&checkout).await.unwrap().unwrap();
    assert_eq!(merged.merged_into.as_deref(), Some(payments.as_str()));
    let survivor = ledger.detail(&payments).await.unwrap().unwrap();
    assert!(survivor.findings.len() >= 3, "{:#?}", survivor.findings);
    assert!(
        survivor
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Absorbed && e.detail.contains("by alice"))
    );
    assert!(
        engine
            .merge(&payments, &payments, START, "x")
            .await
            .is_err()
    );
    assert!(
        engine
            .merge(&payments, &checkout, START, "x")
            .await
            .is_err()
    );

    // Resolve by hand, naming who and why; resolving again is refused.
    let change = engine
        .set_status_by(
            &payments,
            IncidentStatus::Resolved,
            START + 50_000,
            "alice",
            "fixed the config",
        )
        .await
        .unwrap();
    assert!(change.timeline[0].detail.contains("alice"));
    assert!(change.timeline[0].detail.contains("fixed the config"));
    assert!(
        engine
            .set_status_by(&payments, IncidentStatus::Resolved, START, "alice", "")
            .await
            .is_err()
    );

    // Feedback is stored and read back with the incident.
    ledger
        .add_feedback(&Feedback {
            id: "fb-1".into(),
            incident_id: payments.clone(),
            verdict: Verdict::Noise,
            note: "batch job".into(),
            author: "alice (sre-oncall)".into(),
            at_ms: START + 60_000,
        })
        .await
        .unwrap();
    let detail = ledger.detail(&payments).await.unwrap().unwrap();
    assert_eq!(detail.feedback.len(), 1);
    assert_eq!(detail.feedback[0].verdict, Verdict::Noise);
    let noise = ledger.noise_by_detector(100).await.unwrap();
    assert!(noise.contains(&("test_rule".to_owned(), payments.clone())));
    assert!(
        ledger
            .add_feedback(&Feedback {
                id: "fb-2".into(),
                incident_id: payments.clone(),
                verdict: Verdict::Useful,
                note: "x".repeat(10_000),
                author: "a".into(),
                at_ms: 0,
            })
            .await
            .is_err(),
        "an over-long note is refused"
    );

    // A suppression window on a signature: the next incident with it opens suppressed and
    // notifies nobody; others open as usual.
    let catalogue = ledger.incident(&id("catalogue")).await.unwrap().unwrap();
    let window = quiet_window(Some(catalogue.signature.clone()), START + 3_600_000);
    ledger.add_suppression(&window).await.unwrap();
    engine
        .set_suppressions(ledger.suppressions(false).await.unwrap())
        .await;
    engine
        .set_status_by(
            &catalogue.id,
            IncidentStatus::Resolved,
            START + 61_000,
            "a",
            "",
        )
        .await
        .unwrap();
    // Past the reopen window, the same problem opens a new incident: suppressed.
    let later = START + 61_000 + CorrelatorConfig::default().reopen_window_ms + 60_000;
    let changes = engine
        .submit(vec![candidate(
            IncidentType::CrashLoop,
            Scope::Deployment,
            "catalogue",
            Some("shop"),
            None,
            later.min(START + 3_500_000),
        )])
        .await
        .unwrap();
    let opened = changes
        .iter()
        .find(|c| c.timeline.iter().any(|e| e.kind == TimelineKind::Opened))
        .unwrap_or_else(|| panic!("{changes:#?}"));
    assert_eq!(opened.incident.status, IncidentStatus::Suppressed);
    assert!(!opened.notify(), "a suppressed incident notifies nobody");
    assert!(opened.timeline[0].detail.contains("checkout latency"));
    let removed = ledger
        .remove_suppression("sup-test", "bob", START + 70_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.removed_by.as_deref(), Some("bob"));
    assert!(ledger.suppressions(false).await.unwrap().is_empty());
    assert_eq!(ledger.suppressions(true).await.unwrap().len(), 1);
    assert!(
        ledger
            .remove_suppression("sup-test", "bob", START)
            .await
            .unwrap()
            .is_none()
    );
    let mut policy = quiet_window(None, START + 1);
    policy.id = "pol-freeze".into();
    policy.origin = SuppressionOrigin::Policy;
    policy.namespaces = vec!["payments".into()];
    policy.incident_types = vec![IncidentType::CrashLoop, IncidentType::OomKilled];
    ledger
        .replace_policy_suppressions(&[policy.clone()])
        .await
        .unwrap();
    ledger.replace_policy_suppressions(&[policy]).await.unwrap();
    let listed = ledger.suppressions(false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].incident_types.len(), 2);

    // An operator note on an incident the correlator no longer holds goes to the ledger.
    let restarted = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let change = restarted
        .annotate(
            &payments,
            TimelineKind::Commented,
            START + 80_000,
            "post-mortem: PM-12".into(),
            |_| {},
        )
        .await
        .unwrap();
    let detail = ledger.detail(&payments).await.unwrap().unwrap();
    assert_eq!(
        detail.timeline.last().unwrap().seq,
        change.timeline[0].seq,
        "appended after the last event"
    );

    // Suggestions: stored once per fingerprint, decided once.
    let suggestion = RuleSuggestion {
        id: "sug-1".into(),
        fingerprint: "alert_name/KubeThing".into(),
        kind: "alert_name".into(),
        status: SuggestionStatus::Pending,
        title: "KubeThing always means crash_loop".into(),
        rule_toml: "[[rule]]\nname = \"x\"\n".into(),
        evidence: serde_json::json!({"incidents": [payments]}),
        created_at_ms: START,
        decided_by: None,
        decided_at_ms: None,
        note: None,
    };
    assert!(ledger.add_suggestion(&suggestion).await.unwrap());
    let mut again = suggestion.clone();
    again.id = "sug-2".into();
    assert!(!ledger.add_suggestion(&again).await.unwrap());
    assert_eq!(
        ledger
            .suggestions(Some(SuggestionStatus::Pending))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        ledger
            .decide_suggestion("sug-1", SuggestionStatus::Accepted, "alice", START, None)
            .await
            .unwrap()
    );
    assert!(
        !ledger
            .decide_suggestion("sug-1", SuggestionStatus::Rejected, "bob", START, None)
            .await
            .unwrap(),
        "decided once"
    );
    let stored = ledger.suggestion("sug-1").await.unwrap().unwrap();
    assert_eq!(stored.status, SuggestionStatus::Accepted);
    assert_eq!(stored.decided_by.as_deref(), Some("alice"));
    let counts = ledger.detector_counts(0).await.unwrap();
    assert!(counts.iter().any(|(d, n, _)| d == "test_rule" && *n >= 4));
}

#[tokio::test]
async fn sqlite_workspace_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_dir(dir.path()).await.unwrap();
    exercise_workspace(ledger).await;
}
