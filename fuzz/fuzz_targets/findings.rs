//! Fuzzes the findings decoder (`POST /api/v1/findings`): no panic on any body, and every
//! candidate it makes has its confidence in [0, 1] and a reporter.

#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if body.len() > 256 << 10 {
        return;
    }
    if let Ok(candidates) = incident::findings::candidates_from_findings(body, 1_800_000_000_000) {
        for candidate in &candidates {
            assert!(
                (0.0..=1.0).contains(&candidate.confidence),
                "confidence {} out of [0, 1]",
                candidate.confidence
            );
            assert!(candidate.detector.starts_with("findings:"));
        }
    }
});
