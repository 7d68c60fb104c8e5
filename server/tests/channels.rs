//! Operator channels end to end. A crash loop pushed over remote_write under the prod policy
//! becomes one Telegram message with buttons (against the Bot API emulator
//! `telegram-test-api`); an unmapped user's press changes nothing; the approver mapped by
//! `telegram_user_id` presses Approve and exactly one PATCH reaches the loopback Kubernetes
//! API, the message is edited to show the decision, and the audit names the Telegram user;
//! `status`, `what happened`, `why did you restart payments-api` and `pause robot` are
//! answered in the chat. Slack's signed routes and the chat API over HTTP, without emulator; a
//! webhook receiver down past `failure_incident_after` opens its delivery-failure incident.

use crate::common::*;
use crate::fake_k8s;
use app::config::{ChannelsConfig, ProviderConfig};
use datasets::scenarios::{Fault, generate};
use serde_json::{Value, json};
use server::config::KubeConfig;
use server::replay::Sender;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "4839574812:AAFD39kkdpWt3ywyRZergyOLMaJhac60qc";
const CHAT: i64 = -1001234567890;
const ALICE_TG: i64 = 4242;
const STRANGER_TG: i64 = 999;
const ALICE: &str = "alice-approver-token-0123456789";
const PAYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments/payments-api";

fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// The prod example policy without its time-of-day windows (the test must not depend on the
/// hour it runs at).
fn prod_policy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/prod.toml"),
    )
    .unwrap();
    let kept: String = text
        .split("\n[[")
        .enumerate()
        .filter(|(i, part)| *i == 0 || !part.starts_with("windows]]"))
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("\n[[{part}")
            }
        })
        .collect();
    let path = dir.join("prod.toml");
    std::fs::write(&path, kept).unwrap();
    path
}

fn emulator() -> Option<(ChildGuard, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/telegram-emulator");
    if !dir.join("node_modules/telegram-test-api").is_dir() {
        return None;
    }
    let port = free_port();
    let child = Command::new("node")
        .arg("serve.mjs")
        .arg(port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, format!("http://127.0.0.1:{port}")))
}

async fn history(http: &reqwest::Client, emu: &str) -> Vec<Value> {
    let body: Value = http
        .post(format!("{emu}/getUpdatesHistory"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["result"].as_array().cloned().unwrap_or_default()
}

/// What the bot sent: `(message_id, message)`.
async fn bot_messages(http: &reqwest::Client, emu: &str) -> Vec<(i64, Value)> {
    history(http, emu)
        .await
        .into_iter()
        .filter(|u| u.get("callbackQuery").is_none() && u["message"].get("from").is_none())
        .map(|u| (u["messageId"].as_i64().unwrap(), u["message"].clone()))
        .collect()
}

async fn all_read(http: &reqwest::Client, emu: &str) -> bool {
    history(http, emu)
        .await
        .iter()
        .filter(|u| u.get("callbackQuery").is_some() || u["message"].get("from").is_some())
        .all(|u| u["isRead"] == true)
}

async fn press(http: &reqwest::Client, emu: &str, user: i64, message_id: i64, data: &str) {
    http.post(format!("{emu}/sendCallback"))
        .json(
            &json!({"botToken": TOKEN, "from": {"id": user, "first_name": format!("u{user}")},
            "message": {"message_id": message_id, "chat": {"id": CHAT, "type": "supergroup"}},
            "data": data}),
        )
        .send()
        .await
        .unwrap();
    wait_for("the press read", Duration::from_secs(15), || async {
        all_read(http, emu).await.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
}

async fn say(http: &reqwest::Client, emu: &str, user: i64, text: &str) -> String {
    let before = bot_messages(http, emu).await.len();
    http.post(format!("{emu}/sendMessage"))
        .json(
            &json!({"botToken": TOKEN, "from": {"id": user, "first_name": "Alice"},
            "chat": {"id": CHAT, "type": "supergroup"}, "date": 1_700_000_000, "text": text}),
        )
        .send()
        .await
        .unwrap();
    wait_for(
        &format!("the answer to {text:?}"),
        Duration::from_secs(20),
        || async {
            let m = bot_messages(http, emu).await;
            m.get(before)
                .map(|(_, msg)| msg["text"].as_str().unwrap_or_default().to_owned())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_crash_loop_approved_by_the_mapped_approver_restarts_once() {
    let Some((_emu_guard, emu)) = emulator() else {
        println!(
            "SKIPPED: the Telegram emulator is not installed (scripts/test.sh installs it with npm)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (fake, kube_url) = fake_k8s::start().await;
    fake.deployment("payments-api", 3);
    let mut config = test_config(dir.path());
    config.policy.file = Some(prod_policy(dir.path()));
    config.policy.approvers_file = Some(secret_file(
        dir.path(),
        "approvers.toml",
        &format!(
            "[[approver]]\nname = \"alice\"\nrole = \"sre-oncall\"\ntoken = \"{ALICE}\"\ntelegram_user_id = {ALICE_TG}\n"
        ),
    ));
    config.policy.kube = Some(KubeConfig {
        url: Some(kube_url),
        ..KubeConfig::default()
    });
    std::fs::create_dir_all(dir.path().join("channels")).unwrap();
    secret_file(&dir.path().join("channels"), "bot.token", TOKEN);
    secret_file(
        &dir.path().join("channels"),
        "telegram.toml",
        &format!(
            "bot_token_file = \"bot.token\"\nchat_id = {CHAT}\napi_url = \"{emu}\"\nmode = \"poll\"\npoll_interval = \"300ms\"\n"
        ),
    );
    config.channels = ChannelsConfig {
        provider: vec![ProviderConfig {
            id: "ops-telegram".into(),
            kind: "telegram".into(),
            display_name: "Ops on Telegram".into(),
            enabled: true,
            approvals: true,
            config: Some("channels/telegram.toml".into()),
        }],
        base_dir: dir.path().to_owned(),
        ..ChannelsConfig::default()
    };
    let server = start(config).await;
    let http = client();
    let url = server.url();

    let sender = Sender::new(&url, None).unwrap();
    sender
        .push(&generate(Fault::CrashLoop, 7), 0)
        .await
        .unwrap();

    // One message with the buttons; anything else the bot says is a reply in its thread.
    let (root, message) = wait_for(
        "the incident message with buttons",
        Duration::from_secs(90),
        || async {
            bot_messages(&http, &emu).await.into_iter().find(|(_, m)| {
                m["reply_markup"]["inline_keyboard"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = bot_messages(&http, &emu).await;
    let with_buttons = messages
        .iter()
        .filter(|(_, m)| {
            m["reply_markup"]["inline_keyboard"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .count();
    assert_eq!(with_buttons, 1, "{messages:#?}");
    for (id, m) in &messages {
        assert!(
            *id == root || m["reply_to_message_id"] == root,
            "not in the thread: {m}"
        );
    }
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("payments-api") && text.contains("restart_deployment"),
        "{text}"
    );
    let approve = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let approvals = get_data(&http, &format!("{url}/api/v1/approvals?status=pending")).await;
    let approval = approvals[0]["id"].as_str().unwrap().to_owned();
    let incident = approvals[0]["incident"]["id"].as_str().unwrap().to_owned();

    // A stranger's press changes nothing.
    press(&http, &emu, STRANGER_TG, root, &approve).await;
    assert!(fake.writes().is_empty(), "{:#?}", fake.writes());
    let still = get_data(&http, &format!("{url}/api/v1/approvals?status=pending")).await;
    assert_eq!(still.as_array().unwrap().len(), 1);

    // Alice presses Approve: exactly one PATCH, the message shows the decision.
    press(&http, &emu, ALICE_TG, root, &approve).await;
    wait_for("the restart", Duration::from_secs(20), || async {
        (!fake.writes().is_empty()).then_some(())
    })
    .await;
    let edited = wait_for("the message edited", Duration::from_secs(20), || async {
        let m = bot_messages(&http, &emu).await;
        let (_, first) = m.into_iter().find(|(id, _)| *id == root)?;
        first["text"]
            .as_str()
            .is_some_and(|t| t.contains("Approved: restart_deployment"))
            .then_some(first)
    })
    .await;
    assert_eq!(
        edited["reply_markup"]["inline_keyboard"],
        json!([]),
        "{edited}"
    );
    // A second press is harmless.
    press(&http, &emu, ALICE_TG, root, &approve).await;
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", PAYMENTS)
    );

    let audit = get_data(&http, &format!("{url}/api/v1/audit?incident={incident}")).await;
    let approved = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "approved")
        .unwrap_or_else(|| panic!("{audit}"));
    let who = approved["who"].as_str().unwrap();
    assert!(
        who.contains("alice") && who.contains("Telegram user 4242"),
        "{who}"
    );
    assert!(approved["detail"].as_str().unwrap().contains(&approval));

    // Commands in the chat.
    let status = say(&http, &emu, ALICE_TG, "status").await;
    assert!(status.contains("payments-api"), "{status}");
    let what = say(&http, &emu, ALICE_TG, "what happened").await;
    assert!(what.contains(&incident), "{what}");
    let why = say(&http, &emu, ALICE_TG, "why did you restart payments-api").await;
    assert!(
        why.contains("actions.restart_deployment") && why.contains("Outcome"),
        "{why}"
    );
    let paused = say(&http, &emu, ALICE_TG, "pause robot").await;
    assert!(paused.starts_with("Paused"), "{paused}");
    let robot = get_data(&http, &format!("{url}/api/v1/robot")).await;
    assert_eq!(robot["paused"], true, "{robot}");
    assert!(
        robot["changed_by"]
            .as_str()
            .unwrap()
            .contains("Telegram user 4242"),
        "{robot}"
    );
    let stranger = say(&http, &emu, STRANGER_TG, "resume robot").await;
    assert!(stranger.contains("not mapped"), "{stranger}");
    assert_eq!(
        get_data(&http, &format!("{url}/api/v1/robot")).await["paused"],
        true
    );

    let channels = get_data(&http, &format!("{url}/api/v1/channels")).await;
    assert_eq!(channels[0]["id"], "ops-telegram");
    assert_eq!(channels[0]["queue_depth"], 0, "{channels}");
}

#[tokio::test]
async fn slack_routes_verify_signatures_and_the_chat_api_answers() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    secret_file(dir.path(), "signing.secret", secret);
    secret_file(dir.path(), "hook.url", "http://127.0.0.1:9/services/T/B/X");
    secret_file(
        dir.path(),
        "slack.toml",
        "webhook_url_file = \"hook.url\"\nsigning_secret_file = \"signing.secret\"\n",
    );
    let mut config = test_config(dir.path());
    config.channels = ChannelsConfig {
        provider: vec![
            ProviderConfig {
                id: "ops-slack".into(),
                kind: "slack".into(),
                display_name: "Ops on Slack".into(),
                enabled: true,
                approvals: true,
                config: Some("slack.toml".into()),
            },
            ProviderConfig {
                id: "feed".into(),
                kind: "in_app".into(),
                display_name: String::new(),
                enabled: true,
                approvals: false,
                config: None,
            },
        ],
        base_dir: dir.path().to_owned(),
        ..ChannelsConfig::default()
    };
    let server = start(config).await;
    let http = client();
    let url = server.url();
    let body = "command=%2Fsrebot&text=status&user_id=U0NOBODY&user_name=x";
    let now = (chrono::Utc::now().timestamp()).to_string();
    let stale = (chrono::Utc::now().timestamp() - 600).to_string();
    let post = |ts: String, sig: String| {
        http.post(format!("{url}/api/v1/channels/ops-slack/slack/commands"))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let good = channels::signature::slack_sign(secret, &now, body.as_bytes());
    let answer = post(now.clone(), good).await.unwrap();
    assert_eq!(answer.status(), 200);
    let json: Value = answer.json().await.unwrap();
    assert!(
        json["text"].as_str().unwrap().contains("not mapped"),
        "{json}"
    );
    let bad = post(now.clone(), "v0=0000".into()).await.unwrap();
    assert_eq!(bad.status(), 401);
    let stale_sig = channels::signature::slack_sign(secret, &stale, body.as_bytes());
    assert_eq!(post(stale, stale_sig).await.unwrap().status(), 401);
    let interaction = http
        .post(format!(
            "{url}/api/v1/channels/ops-slack/slack/interactions"
        ))
        .header("x-slack-request-timestamp", &now)
        .header("x-slack-signature", "v0=00")
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(interaction.status(), 401);

    // The chat API answers as the caller (anonymous admin on loopback).
    let answer: Value = http
        .post(format!("{url}/api/v1/chat"))
        .json(&json!({"text": "status"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["command"], "status", "{answer}");
    assert!(
        answer["data"]["text"]
            .as_str()
            .unwrap()
            .contains("No incident is open"),
        "{answer}"
    );
    let test = http
        .post(format!("{url}/api/v1/channels/feed/test"))
        .send()
        .await
        .unwrap();
    assert_eq!(test.status(), 200);
    let list = get_data(&http, &format!("{url}/api/v1/channels")).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let missing = http
        .post(format!("{url}/api/v1/channels/nope/test"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failing_past_its_limit_opens_a_delivery_failure_incident() {
    let dir = tempfile::tempdir().unwrap();
    // A webhook receiver that is not there (nothing listens on the port).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    secret_file(dir.path(), "hook.secret", "whsec-0123456789abcdef");
    secret_file(
        dir.path(),
        "hook.toml",
        &format!("url = \"{dead_url}\"\nsecret_file = \"hook.secret\"\n"),
    );
    let mut config = test_config(dir.path());
    config.channels = ChannelsConfig {
        provider: vec![
            ProviderConfig {
                id: "hook".into(),
                kind: "webhook".into(),
                display_name: "Receiver".into(),
                enabled: true,
                approvals: false,
                config: Some("hook.toml".into()),
            },
            ProviderConfig {
                id: "feed".into(),
                kind: "in_app".into(),
                display_name: String::new(),
                enabled: true,
                approvals: false,
                config: None,
            },
        ],
        base_dir: dir.path().to_owned(),
        failure_incident_after: Duration::from_secs(1),
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(300),
        ..ChannelsConfig::default()
    };
    let server = start(config).await;
    let http = client();
    let url = server.url();
    // An incident to announce: one firing Alertmanager alert (webhook format version 4).
    let starts = chrono::Utc::now().to_rfc3339();
    let alert = json!({
        "version": "4", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "srebot", "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                       "pod": "payments-api-7d4b9c6f5-x2x9q", "severity": "critical"},
            "annotations": {"summary": "payments-api restarts"},
            "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5f3a1c2b9d8e7f60"
        }]
    });
    let posted = http
        .post(format!("{url}/api/v1/alerts/alertmanager"))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert!(
        posted.status().is_success(),
        "{}",
        posted.text().await.unwrap()
    );
    // The receiver stays down past `failure_incident_after`: the application opens the
    // provider's delivery-failure incident (domain operator channels), like any other.
    let failure = wait_for(
        "the channel_delivery_failure incident",
        Duration::from_secs(30),
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let list = get_data(&http, &format!("{url}/api/v1/incidents")).await;
                list.as_array()?
                    .iter()
                    .find(|i| i["type"] == "channel_delivery_failure")
                    .cloned()
            }
        },
    )
    .await;
    assert_eq!(failure["domain"], "operator_channels", "{failure}");
    assert_eq!(failure["target"]["name"], "hook", "{failure}");
    // The provider's health says so, and the other provider heard of it.
    let providers = get_data(&http, &format!("{url}/api/v1/channels")).await;
    let hook = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "hook")
        .unwrap()
        .clone();
    assert!(
        hook.to_string().contains("connect") || hook.to_string().contains("error"),
        "{hook}"
    );
    let feed_heard = wait_for(
        "the failure announced on the feed",
        Duration::from_secs(20),
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let list = get_data(&http, &format!("{url}/api/v1/channels")).await;
                let feed = list.as_array()?.iter().find(|p| p["id"] == "feed")?.clone();
                (feed["delivered"].as_u64().unwrap_or(0) >= 2).then_some(feed)
            }
        },
    )
    .await;
    assert!(
        feed_heard["delivered"].as_u64().unwrap() >= 2,
        "{feed_heard}"
    );
}
