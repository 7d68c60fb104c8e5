//! Redaction: each secret class disappears, ordinary operational text stays.

use rca::Redactor;

#[test]
fn secrets_are_redacted() {
    let r = Redactor::new();
    let cases = [
        (
            "Authorization: Bearer abcDEF123ghiJKL456mnoPQR789",
            "abcDEF123ghiJKL456mnoPQR789",
        ),
        ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI",
        ),
        (
            "connecting to postgres://app:s3cr3t-pw@db.shop:5432/orders",
            "s3cr3t-pw",
        ),
        ("login failed password=hunter2 user=bob", "hunter2"),
        ("{\"password\": \"hunter2\", \"user\": \"bob\"}", "hunter2"),
        ("DB_PASSWORD: 'correct horse'", "horse"),
        ("api_key=0123456789abcdef", "0123456789abcdef"),
        (
            "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "dozjgNryP4J3jVmNHl0w5N",
        ),
        (
            "github token ghp_16C7e42F292c6912E7710c838347Ae178B4a here",
            "ghp_16C7e42F",
        ),
        ("slack xoxb-2048-4096-AbCdEfGhIjKl", "xoxb-2048"),
        (
            "random blob Zx8Qp3Lm9Rt2Vw7Yk4Hn6Bj1Fs5Dc0Ga",
            "Zx8Qp3Lm9Rt2Vw7Yk4Hn6Bj1Fs5Dc0Ga",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA",
        ),
    ];
    for (text, secret) in cases {
        let out = r.redact(text);
        assert!(!out.text.contains(secret), "{text} -> {}", out.text);
        assert!(out.count >= 1, "{text}");
        assert!(out.text.contains("REDACTED"), "{}", out.text);
    }
}

#[test]
fn operational_text_is_kept() {
    let r = Redactor::new();
    for text in [
        "pod payments-7d9f8b6c5-x2k4q OOMKilled exit code 137",
        "image sha256:3b4f7c9e2a1d8f6b5c4e3d2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e pulled",
        "request 6f1c2d3e-4b5a-6789-abcd-ef0123456789 took 231 ms",
        "dial tcp 10.96.0.12:5432: connect: connection refused",
        "http://payments.shop.svc.cluster.local:8080/api/v1/orders returned 503",
        "password authentication failed for user \"app\"",
        "served order <*> in <*> ms",
    ] {
        let out = r.redact(text);
        assert_eq!(out.text, text);
        assert_eq!(out.count, 0, "{text}");
    }
}
