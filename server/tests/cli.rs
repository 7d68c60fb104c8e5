//! The `srebot` binary's offline commands: policy check and audit verify, as an operator or a
//! CI job runs them, judged by exit status and printed lines.

use std::path::PathBuf;
use std::process::Command;

fn srebot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_srebot"))
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples")
}

#[test]
fn policy_check_accepts_the_shipped_examples() {
    for name in ["demo.toml", "prod.toml"] {
        let out = srebot()
            .args(["policy", "check"])
            .arg(examples().join(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
    }
}

#[test]
fn policy_check_names_file_and_line_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(examples().join("demo.toml")).unwrap();
    // An action kind that does not exist, appended after the original text.
    let lines = text.lines().count();
    let broken = format!("{text}\n[more_actions]\ndelete_cluster = \"auto\"\n");
    std::fs::write(&bad, broken).unwrap();
    let out = srebot()
        .args(["policy", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l
            .split(':')
            .nth(1)
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_some_and(|n| n > lines)),
        "no line number past the original text: {stderr}"
    );
}

#[test]
fn audit_verify_reports_a_missing_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = srebot()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit"));
}

#[test]
fn policy_check_refuses_an_unknown_origin_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("origins.toml");
    let text = std::fs::read_to_string(examples().join("demo.toml")).unwrap();
    let typo = text.replace(
        r#"restart_deployment = { tier = "auto", unless_only = ["alertmanager", "findings"] }"#,
        r#"restart_deployment = { tier = "auto", unless_only = ["alert-manager", "findings"] }"#,
    );
    assert_ne!(
        typo, text,
        "the shipped demo policy conditions restarts on origins"
    );
    std::fs::write(&bad, &typo).unwrap();
    let out = srebot()
        .args(["policy", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = typo
        .lines()
        .position(|l| l.contains("alert-manager"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!(
            "origins.toml:{line}: `actions.restart_deployment.unless_only`: unknown origin \
             \"alert-manager\""
        )),
        "{stderr}"
    );
}
