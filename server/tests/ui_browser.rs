//! The workspace in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`server/tests/ui/e2e.mjs`), against a real `srebot serve` process with the prod policy and
//! the loopback Kubernetes fake (`cluster/tests/fake_k8s.rs`: the apps/v1 wire format, since
//! no kube-apiserver can run here). Signs in, starts a demo scenario and sees its incident row
//! appear without a reload, opens every tab, approves a pending restart (exactly one PATCH
//! reaches the fake, the audit names the approver), rejects another, has a cross-site form
//! POST refused, and checks a `read` token sees no approve button and gets 403 posting anyway.
//! Screenshots of every page go to `target/ui-screenshots/`, each checked not blank.
//!
//! Prints SKIPPED when Chromium, node or the npm package (`scripts/test.sh` installs them) are
//! missing.

use crate::common::*;
use crate::fake_k8s;
use crate::ui_pages::{alert, prod_policy, token, tokens_file};
use app::Role;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

fn ui_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is missing (apt-get install nodejs npm)".to_owned());
    }
    if !ui_dir().join("node_modules/playwright-core").exists() {
        return Some(format!(
            "playwright-core is not installed in {} (npm ci there; scripts/test.sh does)",
            ui_dir().display()
        ));
    }
    None
}

/// `target/ui-screenshots/` of this workspace.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("ui-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_browser_workspace_end_to_end_in_chromium() {
    if let Some(why) = missing() {
        println!("SKIPPED: ui_browser: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (fake, kube_url) = fake_k8s::start().await;
    for name in ["payments-api", "checkout", "catalogue"] {
        fake.deployment(name, 3);
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let config = dir.path().join("srebot.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {data:?}\n\n\
             [scrape]\nself_scrape = false\n\n\
             [auth]\ntokens_file = {tokens:?}\n\n\
             [policy]\nfile = {policy:?}\naudit_key_file = {key:?}\n\n\
             [policy.kube]\nurl = {kube_url:?}\n",
            tokens = tokens_file(dir.path()),
            policy = prod_policy(dir.path()),
            key = audit_key(dir.path()),
        ),
    )
    .unwrap();
    let log = dir.path().join("srebot.log");
    let _server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_srebot"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("srebot starts"),
    );
    let http = client();
    wait_for("srebot to serve", Duration::from_secs(60), || async {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    // A second incident, asking for a restart of checkout: the one the test rejects.
    let now = app::remediation::now_ms();
    alert(
        &base,
        "KubePodCrashLooping",
        "checkout",
        &incident::rfc3339::format(now - 120_000),
    )
    .await;

    let shots = screenshots();
    let _ = std::fs::remove_dir_all(&shots);
    let cfg = dir.path().join("e2e.json");
    std::fs::write(
        &cfg,
        serde_json::json!({
            "base": base,
            "approver_token": token(Role::Approve),
            "read_token": token(Role::Read),
            "screenshots": shots,
        })
        .to_string(),
    )
    .unwrap();
    let script = ui_dir().join("e2e.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(cfg)
            .current_dir(ui_dir())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from the browser\nstdout: {stdout}\nstderr: {stderr}\nserver log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    assert!(
        output.status.success() && result["ok"] == true,
        "browser run failed: {result:#}\nstderr: {stderr}"
    );
    assert_eq!(result["liveRow"], true, "row appeared without a reload");
    assert_eq!(result["cookie"]["httpOnly"], true);
    assert_eq!(result["cookie"]["sameSite"], "Strict");

    // Exactly one PATCH reached the cluster: the approved rollout restart of payments-api.
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        "/apis/apps/v1/namespaces/shop/deployments/payments-api"
    );
    // The audit names the approver; the other request was rejected with its reason.
    let audit: Value = http
        .get(format!("{base}/api/v1/audit"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["data"]["entries"].as_array().unwrap();
    let approved = entries
        .iter()
        .find(|e| e["kind"] == "approved")
        .unwrap_or_else(|| panic!("no approval audited: {audit}"));
    assert_eq!(approved["who"], "approve-person (sre-oncall)");
    assert!(
        entries.iter().any(|e| e["kind"] == "executed"),
        "execution audited"
    );
    let rejected = entries
        .iter()
        .find(|e| e["kind"] == "rejected")
        .unwrap_or_else(|| panic!("no rejection audited: {audit}"));
    assert!(
        rejected["detail"]
            .as_str()
            .unwrap()
            .contains("checkout is being redeployed"),
        "{rejected}"
    );
    assert!(
        entries.iter().any(|e| e["kind"] == "demo_started"),
        "the demo is audited"
    );
    assert_eq!(audit["data"]["chain"]["ok"], true);
    let approvals: Value = http
        .get(format!("{base}/api/v1/approvals"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status_of = |id: &Value| {
        approvals["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == *id)
            .map(|a| a["status"].clone())
    };
    assert_eq!(
        status_of(&result["restartApproval"]),
        Some(Value::from("approved"))
    );
    assert_eq!(
        status_of(&result["rejectedApproval"]),
        Some(Value::from("rejected"))
    );

    // The cross-site form POST was refused, and the incident is not acknowledged.
    assert_eq!(result["crossSite"]["status"], 403, "{result:#}");
    let incident: Value = http
        .get(format!(
            "{base}/api/v1/incidents/{}",
            result["incident"].as_str().unwrap()
        ))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(incident["data"]["acknowledged_by"].is_null(), "{incident}");

    // A read token: no approve button, and 403 when it posts anyway.
    assert_eq!(result["readApproveButtons"], 0);
    assert_eq!(result["readPost"]["status"], 403, "{result:#}");

    // A non-blank screenshot of every page.
    let names: Vec<&str> = result["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for page in [
        "login",
        "incidents",
        "drawer-summary",
        "drawer-ai",
        "drawer-signals",
        "drawer-actions",
        "approvals",
        "audit",
        "rules",
        "settings",
        "demo",
    ] {
        assert!(names.contains(&page), "no screenshot of {page}: {names:?}");
        let file = shots.join(format!("{page}.png"));
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is {size} bytes", file.display());
    }
}
