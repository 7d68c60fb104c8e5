//! Fuzzes the Prometheus selector parser: no panic on any text, a parsed selector parses
//! again from its own text to the same matchers, and both matching paths agree.

#![no_main]

use model::LabelSet;
use windows::Selector;

/// Longer selectors only grow regex compile time, not parser coverage.
const MAX_TEXT: usize = 512;

libfuzzer_sys::fuzz_target!(|text: &str| {
    if text.len() > MAX_TEXT {
        return;
    }
    let Ok(selector) = Selector::parse(text) else {
        return;
    };
    assert!(
        !selector.matchers.is_empty(),
        "{text:?} parsed to no matchers"
    );
    let again = Selector::parse(selector.as_str()).unwrap_or_else(|e| {
        panic!(
            "{text:?} parsed, its own text {:?} not: {e}",
            selector.as_str()
        )
    });
    let shape = |s: &Selector| -> Vec<(String, windows::MatchOp, String)> {
        s.matchers
            .iter()
            .map(|m| (m.name.clone(), m.op, m.value.clone()))
            .collect()
    };
    assert_eq!(shape(&selector), shape(&again), "{text:?}");
    // Label sets built from the selector's own names and values, so matches are likely.
    let mut pairs: Vec<(&str, &str)> = selector
        .matchers
        .iter()
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .chain([("job", "node"), ("__name__", "up")])
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs.dedup_by(|a, b| a.0 == b.0);
    if let Ok(set) = LabelSet::from_pairs(pairs.iter().copied()) {
        assert_eq!(
            selector.matches(&set),
            selector.matches_pairs(&pairs),
            "{text:?} on {pairs:?}"
        );
    }
});
