//! Fuzzes the Alertmanager webhook decoder (`POST /api/v1/alerts/alertmanager`): no panic on
//! any body, and every candidate it makes names a target and carries its signal.

#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if body.len() > 256 << 10 {
        return;
    }
    if let Ok(candidates) = incident::alertmanager::candidates_from_alertmanager(body) {
        for candidate in &candidates {
            assert!(
                (0.0..=1.0).contains(&candidate.confidence),
                "confidence {} out of [0, 1]",
                candidate.confidence
            );
        }
    }
});
