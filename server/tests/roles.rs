//! Every route against its least role: a token one role below is refused with 403 and the
//! role it needs, a token of the least role gets past authorization, no token gets 401.

use crate::common::{start, test_config};
use app::{Operation, Role};
use serde_json::Value;

/// One token per role, `<role>-token-0123456789`.
fn token(role: Role) -> String {
    format!("{role}-token-0123456789")
}

fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tokens.toml");
    let mut text = String::new();
    for role in Role::ALL {
        text.push_str(&format!(
            "[[token]]\nname = \"{role}-bot\"\nrole = \"{role}\"\ntoken = \"{}\"\n{}\n",
            token(role),
            if role == Role::Approve {
                "policy_role = \"sre-oncall\"\n"
            } else {
                ""
            }
        ));
    }
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// Every route of the router, with a concrete path, and the operation it runs.
const ROUTES: &[(&str, &str, Operation)] = &[
    ("POST", "/api/v1/write", Operation::RemoteWrite),
    ("POST", "/loki/api/v1/push", Operation::LokiPush),
    (
        "POST",
        "/api/v1/alerts/alertmanager",
        Operation::AlertmanagerWebhook,
    ),
    ("POST", "/api/v1/findings", Operation::SubmitFindings),
    ("POST", "/v1/metrics", Operation::OtlpMetrics),
    ("POST", "/api/v1/doctor", Operation::Doctor),
    ("GET", "/api/v1/series?match[]=up", Operation::Series),
    ("POST", "/api/v1/series", Operation::Series),
    ("GET", "/api/v1/windows?match[]=up", Operation::Windows),
    ("POST", "/api/v1/sql", Operation::Sql),
    ("GET", "/api/v1/status", Operation::Status),
    ("GET", "/metrics", Operation::Metrics),
    ("GET", "/api/v1/incidents", Operation::ListIncidents),
    ("GET", "/api/v1/incidents/inc-x", Operation::GetIncident),
    ("GET", "/api/v1/candidates", Operation::ListCandidates),
    ("GET", "/api/v1/incidents/inc-x/rca", Operation::GetDraft),
    (
        "POST",
        "/api/v1/incidents/inc-x/rca",
        Operation::RegenerateDraft,
    ),
    (
        "GET",
        "/api/v1/incidents/inc-x/logs",
        Operation::IncidentLogs,
    ),
    ("POST", "/api/v1/rules/reload", Operation::ReloadRules),
    ("GET", "/api/v1/actions", Operation::ListActions),
    ("GET", "/api/v1/approvals", Operation::ListApprovals),
    ("GET", "/api/v1/audit", Operation::Audit),
    ("GET", "/api/v1/robot", Operation::RobotStatus),
    ("POST", "/api/v1/robot/pause", Operation::Pause),
    (
        "POST",
        "/api/v1/approvals/ap-x/token",
        Operation::IssueApprovalToken,
    ),
    ("POST", "/api/v1/approvals/ap-x/approve", Operation::Approve),
    ("GET", "/api/v1/channels", Operation::ListChannels),
    ("POST", "/api/v1/channels/x/test", Operation::TestChannel),
    ("POST", "/api/v1/chat", Operation::Chat),
    ("POST", "/api/v1/summary/email", Operation::SummaryEmail),
    ("POST", "/api/v1/approvals/ap-x/reject", Operation::Reject),
    ("POST", "/api/v1/approvals/ap-x/modify", Operation::Modify),
    ("POST", "/api/v1/robot/resume", Operation::Resume),
    ("POST", "/api/v1/policy/reload", Operation::ReloadPolicy),
    ("GET", "/api/v1/tools", Operation::ListTools),
    ("POST", "/api/v1/tools/nodes.list", Operation::RunTool),
    (
        "POST",
        "/api/v1/incidents/inc-x/ack",
        Operation::Acknowledge,
    ),
    ("POST", "/api/v1/incidents/inc-x/assign", Operation::Assign),
    (
        "POST",
        "/api/v1/incidents/inc-x/comment",
        Operation::Comment,
    ),
    (
        "POST",
        "/api/v1/incidents/inc-x/resolve",
        Operation::ResolveIncident,
    ),
    (
        "POST",
        "/api/v1/incidents/inc-x/merge",
        Operation::MergeIncidents,
    ),
    (
        "GET",
        "/api/v1/rules/suggestions",
        Operation::ListSuggestions,
    ),
    ("GET", "/api/v1/suppressions", Operation::ListSuppressions),
    ("GET", "/api/v1/policy", Operation::ViewPolicy),
    (
        "POST",
        "/api/v1/rules/suggestions/sug-x/accept",
        Operation::AcceptSuggestion,
    ),
    (
        "POST",
        "/api/v1/rules/suggestions/sug-x/reject",
        Operation::RejectSuggestion,
    ),
];

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url).body("{}"),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_least_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.tokens_file = Some(tokens_file(dir.path()));
    let server = start(config).await;
    let base = server.url();
    let client = crate::common::client();
    let mut covered: Vec<Operation> = ROUTES.iter().map(|r| r.2).collect();
    covered.push(Operation::Health);
    // A chat command only (`silence <incident> <duration>`): no route of its own.
    covered.push(Operation::Silence);
    // The chat providers' own requests authenticate by the provider's secret or signature,
    // not a bearer token: no token gets past to the provider check (no provider `x` here).
    for path in [
        "/api/v1/channels/x/telegram",
        "/api/v1/channels/x/slack/interactions",
        "/api/v1/channels/x/slack/commands",
    ] {
        let (status, body) = call(&client, &base, "POST", path, None).await;
        assert_eq!(status, 404, "POST {path}: {body}");
    }
    covered.push(Operation::ChatInbound);
    // The workspace's routes (session sign-in) are checked by `ui_pages`.
    covered.extend(crate::ui_pages::UI_ROUTES.iter().map(|r| r.2));
    for op in Operation::ALL {
        assert!(covered.contains(&op), "{op:?} has no route in this test");
    }
    for &(method, path, op) in ROUTES {
        let least = op.least_role();
        let (status, body) = call(&client, &base, method, path, None).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        let (status, _) = call(
            &client,
            &base,
            method,
            path,
            Some("unknown-token-0123456789"),
        )
        .await;
        assert_eq!(status, 401, "{method} {path} with an unknown token");
        if let Some(below) = Role::ALL.into_iter().rev().find(|r| *r < least) {
            let (status, body) = call(&client, &base, method, path, Some(&token(below))).await;
            assert_eq!(status, 403, "{method} {path} as {below}: {body}");
            assert_eq!(body["errorType"], "forbidden", "{body}");
            assert_eq!(
                body["required_role"],
                least.as_str(),
                "{method} {path}: {body}"
            );
        }
        let (status, body) = call(&client, &base, method, path, Some(&token(least))).await;
        assert!(
            status != 401 && status != 403,
            "{method} {path} as {least}: {status} {body}"
        );
    }
    // An admin without a policy role cannot approve; health probes need no token.
    let (status, body) = call(
        &client,
        &base,
        "POST",
        "/api/v1/approvals/ap-x/approve",
        Some(&token(Role::Admin)),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["refusal"]["code"], "approver_required", "{body}");
    let (status, _) = call(&client, &base, "GET", "/healthz", None).await;
    assert_eq!(status, 200);
}
