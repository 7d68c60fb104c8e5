//! Fuzzes the policy file validator (`srebot policy check`, `[policy] file`): no panic on any
//! text, and every refusal lists at least one issue with its line.

#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if text.len() > 64 << 10 {
        return;
    }
    if let Err(errors) = policy::Policy::from_toml_str(text, "policy.toml") {
        assert!(!errors.issues.is_empty(), "a refusal lists what is wrong");
    }
});
