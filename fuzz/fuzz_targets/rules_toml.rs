//! Fuzzes the detector-rules file parser (`[detect] rules_file`, reloaded on SIGHUP): no panic
//! on any text; a refusal names what was wrong.

#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|text: &str| {
    if text.len() > 64 << 10 {
        return;
    }
    if let Err(error) = detect::RuleSet::parse(text, Path::new("rules.toml")) {
        assert!(!error.to_string().is_empty());
    }
});
