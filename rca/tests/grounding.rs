//! Grounding: claims must cite the draft's evidence, actions must be the draft's.

use rca::{Drafter, Grounder};

use crate::fixtures;

#[test]
fn valid_claims_are_kept_and_strays_counted() {
    let draft = Drafter::default().draft(&fixtures::input());
    let answer = r#"Here you go:
```json
{"summary": "A deploy 10 minutes earlier made payments run out of memory.",
 "claims": [
   {"text": "The 1.4.3 deploy preceded the OOM kills.", "evidence": ["chg-1", "e1"], "hypothesis": "h1"},
   {"text": "Memory sat at the limit.", "evidence": "m1", "hypothesis": "h99"},
   {"text": "Unsupported guess.", "evidence": []},
   {"text": "No evidence field at all."},
   {"text": "Invented evidence.", "evidence": ["m1", "m77"]},
   {"text": "Fix it: run kubectl delete namespace shop", "evidence": ["m1"]}
 ],
 "actions": ["rollback_deployment", "delete_namespace", "rollback_deployment", "drain_node"]}
```"#;
    let out = Grounder::default().ground(answer, &draft).unwrap();
    assert_eq!(out.claims.len(), 2);
    assert_eq!(out.claims[0].evidence, ["chg-1", "e1"]);
    assert_eq!(out.claims[0].hypothesis.as_deref(), Some("h1"));
    assert_eq!(out.claims[1].evidence, ["m1"]);
    assert_eq!(
        out.claims[1].hypothesis, None,
        "unknown hypothesis id is cleared"
    );
    assert_eq!(out.dropped_uncited, 2);
    assert_eq!(out.dropped_unknown_evidence, 1);
    assert_eq!(out.dropped_commands, 1);
    assert_eq!(out.actions, ["rollback_deployment"]);
    assert_eq!(out.dropped_actions, 2);
    assert!(out.summary.starts_with("A deploy"));
}

#[test]
fn garbage_is_an_error() {
    let draft = Drafter::default().draft(&fixtures::input());
    let g = Grounder::default();
    assert!(matches!(
        g.ground("I think it is memory.", &draft),
        Err(rca::AnswerError::NoJson)
    ));
    assert!(matches!(
        g.ground(r#"{"claims": "not a list"}"#, &draft),
        Err(rca::AnswerError::Schema { .. })
    ));
}
