//! Telegram against the Bot API emulator `telegram-test-api` (npm, installed by
//! `scripts/test.sh`): one message per incident with buttons, presses by a mapped approver, a
//! reader and an unmapped user, the message edited to show the decision, commands answered.
//! Telegram's 429 `retry_after` is tested against a loopback stand-in (the emulator never
//! answers 429), and the webhook's secret header directly.

use crate::support::*;
use app::Role;
use channels::{ApprovalStatus, Channels, Directory};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "4839574812:AAFD39kkdpWt3ywyRZergyOLMaJhac60qc";
const CHAT: i64 = -1001234567890;
const ALICE: i64 = 4242;
const BOB: i64 = 777;
const MALLORY: i64 = 999;

fn emulator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/telegram-emulator")
}

/// The emulator on a free loopback port, or `None` (the caller prints SKIPPED).
fn emulator() -> Option<(ChildGuard, String)> {
    let dir = emulator_dir();
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

fn directory() -> Directory {
    let mut d = Directory::default();
    d.add_telegram(ALICE, caller("alice", Role::Approve, Some("sre-oncall")));
    d.add_telegram(BOB, caller("bob", Role::Read, None));
    d
}

fn telegram_config(dir: &std::path::Path, api: &str, extra: &str) -> channels::Loaded {
    write(dir, "bot.token", TOKEN);
    write(
        dir,
        "telegram.toml",
        &format!(
            "bot_token_file = \"bot.token\"\nchat_id = {CHAT}\napi_url = \"{api}\"\npoll_interval = \"200ms\"\npoll_timeout = \"1s\"\n{extra}"
        ),
    );
    load(
        dir,
        "[[channels.provider]]\nid = \"ops-telegram\"\nkind = \"telegram\"\n\
         display_name = \"Ops on Telegram\"\napprovals = true\nconfig = \"telegram.toml\"\n\
         [channels]\nretry_initial = \"200ms\"\nretry_max = \"5s\"\n",
    )
}

/// What the bot sent, oldest first: `(message_id, message)`.
async fn bot_messages(http: &reqwest::Client, emu: &str) -> Vec<(i64, Value)> {
    let history: Value = http
        .post(format!("{emu}/getUpdatesHistory"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    history["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["message"]["chat_id"].is_number() || u["message"]["chat_id"].is_string())
        .filter(|u| u.get("callbackQuery").is_none() && u["message"].get("from").is_none())
        .map(|u| (u["messageId"].as_i64().unwrap(), u["message"].clone()))
        .collect()
}

/// Whether every update users sent has been read by the bot.
async fn all_read(http: &reqwest::Client, emu: &str) -> bool {
    let history: Value = http
        .post(format!("{emu}/getUpdatesHistory"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    history["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u.get("callbackQuery").is_some() || u["message"].get("from").is_some())
        .all(|u| u["isRead"] == true)
}

async fn press(http: &reqwest::Client, emu: &str, user: i64, message_id: i64, data: &str) {
    let answer = http
        .post(format!("{emu}/sendCallback"))
        .json(&json!({
            "botToken": TOKEN,
            "from": {"id": user, "first_name": format!("user{user}"), "is_bot": false},
            "message": {"message_id": message_id, "chat": {"id": CHAT, "type": "supergroup"}},
            "data": data,
        }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    wait_for("the press to be read", Duration::from_secs(10), || async {
        all_read(http, emu).await.then_some(())
    })
    .await;
    // The bot answers after reading; give it a moment.
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// Says `text` as `user`; the bot's reply once it comes.
async fn say(http: &reqwest::Client, emu: &str, user: i64, text: &str) -> String {
    let before = bot_messages(http, emu).await.len();
    let answer = http
        .post(format!("{emu}/sendMessage"))
        .json(&json!({
            "botToken": TOKEN,
            "from": {"id": user, "first_name": format!("user{user}"), "is_bot": false},
            "chat": {"id": CHAT, "type": "supergroup"},
            "date": now_ms(),
            "text": text,
        }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    wait_for(
        &format!("the answer to {text:?}"),
        Duration::from_secs(15),
        || async {
            let messages = bot_messages(http, emu).await;
            (messages.len() > before).then(|| {
                messages[before].1["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_one_message_with_buttons_approved_by_the_mapped_approver_only() {
    let Some((_emu_guard, emu)) = emulator() else {
        println!(
            "SKIPPED: the Telegram emulator is not installed (scripts/test.sh installs it with npm)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let loaded = telegram_config(dir.path(), &emu, "");
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op.clone(), directory())
        .await
        .unwrap();
    channels.spawn();
    let http = reqwest::Client::new();

    // The incident opens, then its approval is asked: one message, with the buttons.
    channels.publish(&opened("0")).await.unwrap();
    channels.publish(&asked()).await.unwrap();
    let (message_id, message) = wait_for(
        "the incident message with buttons",
        Duration::from_secs(15),
        || async {
            let messages = bot_messages(&http, &emu).await;
            messages
                .last()
                .filter(|(_, m)| {
                    m["reply_markup"]["inline_keyboard"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty())
                })
                .cloned()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        bot_messages(&http, &emu).await.len(),
        1,
        "one message per incident"
    );
    assert_eq!(message["parse_mode"], "HTML");
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("<b>Crash loop on deployment/shop/payments-api</b>"),
        "{text}"
    );
    assert!(
        text.contains("Needs approval: restart_deployment"),
        "{text}"
    );
    let keyboard = message["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap();
    let labels: Vec<&str> = keyboard
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|b| b["text"].as_str().unwrap())
        })
        .collect();
    assert_eq!(labels, ["Approve", "Reject", "Show evidence", "Silence 1h"]);
    let approve = keyboard[0][0]["callback_data"].as_str().unwrap().to_owned();
    assert!(
        approve.starts_with("a:") && approve.len() <= 64,
        "{approve}"
    );
    assert!(!approve.contains(&channels::event::ApprovalBrief::clone(&approval()).id));

    // An unmapped user and a reader press Approve: nothing happens.
    press(&http, &emu, MALLORY, message_id, &approve).await;
    press(&http, &emu, BOB, message_id, &approve).await;
    {
        let s = op.state.lock();
        assert!(s.audit.is_empty(), "{:?}", s.audit);
        assert_eq!(s.approvals[0].status, ApprovalStatus::Pending);
    }
    assert_eq!(bot_messages(&http, &emu).await.len(), 1);

    // Alice, mapped to an approver, presses Approve: approved once, audited with her
    // Telegram identity, and the message shows the decision without buttons.
    press(&http, &emu, ALICE, message_id, &approve).await;
    let edited = wait_for("the message edited", Duration::from_secs(15), || async {
        let messages = bot_messages(&http, &emu).await;
        let (_, first) = messages.iter().find(|(id, _)| *id == message_id)?;
        first["text"]
            .as_str()
            .is_some_and(|t| t.contains("Approved: restart_deployment"))
            .then(|| first.clone())
    })
    .await;
    assert_eq!(
        edited["reply_markup"]["inline_keyboard"],
        json!([]),
        "{edited}"
    );
    assert!(
        edited["text"]
            .as_str()
            .unwrap()
            .contains("alice via Telegram user 4242"),
        "{edited}"
    );
    {
        let s = op.state.lock();
        assert_eq!(
            s.audit,
            [format!(
                "approved {} by alice via Telegram user 4242 (user4242)",
                approval().id
            )]
        );
    }
    // A second tap on the decided approval is harmless.
    press(&http, &emu, ALICE, message_id, &approve).await;
    assert_eq!(op.state.lock().audit.len(), 1);

    // Commands.
    let status = say(&http, &emu, ALICE, "status").await;
    assert!(
        status.contains("1 incident is open") && status.contains("payments-api"),
        "{status}"
    );
    let what = say(&http, &emu, ALICE, "what happened").await;
    assert!(what.contains("inc-3b881be00b61c2aa"), "{what}");
    let why = say(&http, &emu, ALICE, "why did you restart payments-api").await;
    assert!(
        why.contains("actions.restart_deployment") && why.contains("Observed (evidence)"),
        "{why}"
    );
    let refused = say(&http, &emu, BOB, "pause robot").await;
    assert!(refused.starts_with("Refused"), "{refused}");
    assert!(!op.state.lock().paused);
    let unmapped = say(&http, &emu, MALLORY, "status").await;
    assert!(unmapped.contains("not mapped"), "{unmapped}");
    let paused = say(&http, &emu, ALICE, "/pause_robot").await;
    assert!(paused.starts_with("Paused"), "{paused}");
    assert!(op.state.lock().paused);
    // Conversation is not a command: no answer.
    let before = bot_messages(&http, &emu).await.len();
    let _ = http
        .post(format!("{emu}/sendMessage"))
        .json(
            &json!({"botToken": TOKEN, "from": {"id": ALICE, "first_name": "a"},
            "chat": {"id": CHAT}, "date": now_ms(), "text": "ok, approved, go ahead"}),
        )
        .send()
        .await
        .unwrap();
    wait_for("the chatter read", Duration::from_secs(10), || async {
        all_read(&http, &emu).await.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(bot_messages(&http, &emu).await.len(), before);

    // With a model, a question is answered with its citations; chatter still is not, and an
    // answer changes nothing.
    op.state.lock().answer = Some(app::ask::Answer {
        incident: "inc-3b881be00b61c2aa".to_owned(),
        text: "payments-api restarts because it runs out of memory.".to_owned(),
        claims: vec![app::ask::Claim {
            text: "Its container was OOM-killed five times.".to_owned(),
            evidence: vec!["e1".to_owned()],
            hypothesis: None,
        }],
        citations: vec![app::ask::Citation {
            id: "e1".to_owned(),
            summary: "OOMKilled x5".to_owned(),
        }],
        dropped: 0,
        model: "scripted".to_owned(),
        latency_ms: 3,
    });
    let audit_before = op.state.lock().audit.len();
    let answered = say(&http, &emu, ALICE, "is payments-api still crashing?").await;
    assert!(
        answered.contains("runs out of memory")
            && answered.contains("[e1]")
            && answered.contains("never takes an action"),
        "{answered}"
    );
    assert_eq!(
        op.state.lock().questions,
        ["is payments-api still crashing?"]
    );
    let unmapped = say(&http, &emu, MALLORY, "is payments-api still crashing?").await;
    assert!(unmapped.contains("not mapped"), "{unmapped}");
    assert_eq!(
        op.state.lock().questions.len(),
        1,
        "an unmapped user asks nothing"
    );
    assert_eq!(op.state.lock().audit.len(), audit_before);
    channels.stop();
}

/// A loopback stand-in for the Bot API that answers `sendMessage` with Telegram's 429 first.
async fn rate_limited_api() -> (String, std::sync::Arc<parking_lot::Mutex<Vec<Instant>>>) {
    use axum::extract::State;
    type Calls = std::sync::Arc<parking_lot::Mutex<Vec<Instant>>>;
    let calls: Calls = Default::default();
    let app = axum::Router::new()
        .route(
            &format!("/bot{TOKEN}/sendMessage"),
            axum::routing::post(|State(calls): State<Calls>| async move {
                let mut calls = calls.lock();
                calls.push(Instant::now());
                if calls.len() == 1 {
                    (
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(json!({"ok": false, "error_code": 429,
                            "description": "Too Many Requests: retry after 2",
                            "parameters": {"retry_after": 2}})),
                    )
                } else {
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(
                            json!({"ok": true, "result": {"message_id": 5, "date": 1700000000,
                            "chat": {"id": CHAT, "type": "supergroup"}}}),
                        ),
                    )
                }
            }),
        )
        .with_state(std::sync::Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn telegram_429_retry_after_is_honoured() {
    let (api, calls) = rate_limited_api().await;
    let dir = tempfile::tempdir().unwrap();
    let loaded = telegram_config(dir.path(), &api, "");
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let channels = Channels::open(loaded, &ledger, MemOperator::with_crash_loop(), directory())
        .await
        .unwrap();
    channels.publish(&opened("0")).await.unwrap();
    // An incident's events settle for a moment, so a burst goes out as one message.
    channels.flush().await.unwrap();
    assert_eq!(calls.lock().len(), 0);
    tokio::time::sleep(Duration::from_millis(
        channels::hub::COALESCE_MS as u64 + 100,
    ))
    .await;
    channels.flush().await.unwrap();
    assert_eq!(calls.lock().len(), 1);
    let rows = channels.outbox().rows("ops-telegram").await.unwrap();
    assert_eq!(rows[0].1, channels::outbox::RowState::Pending);
    // Asked to wait 2 s: no attempt before that, however often the worker passes.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        channels.flush().await.unwrap();
    }
    assert_eq!(calls.lock().len(), 1, "retried before retry_after");
    let list = channels.list().await.unwrap();
    assert!(
        list[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("429"),
        "{list:?}"
    );
    wait_for("the retry", Duration::from_secs(10), || async {
        channels.flush().await.unwrap();
        (calls.lock().len() == 2).then_some(())
    })
    .await;
    let gap = {
        let c = calls.lock();
        c[1] - c[0]
    };
    assert!(gap >= Duration::from_secs(2), "{gap:?}");
    let rows = channels.outbox().rows("ops-telegram").await.unwrap();
    assert_eq!(rows[0].1, channels::outbox::RowState::Delivered);
    assert_eq!(rows[0].2, 2, "two attempts");
}

#[tokio::test]
async fn telegram_webhook_updates_need_the_secret_header() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hook.secret", "s3cret-token_for-telegram");
    let loaded = telegram_config(
        dir.path(),
        "http://127.0.0.1:9",
        "mode = \"webhook\"\nwebhook_secret_file = \"hook.secret\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op.clone(), directory())
        .await
        .unwrap();
    let update = json!({"update_id": 1, "message": {"message_id": 3, "date": 1700000000,
        "chat": {"id": CHAT, "type": "supergroup"}, "from": {"id": ALICE, "first_name": "Alice"},
        "text": "pause robot"}})
    .to_string();
    for secret in [None, Some("wrong")] {
        let err = channels
            .telegram_webhook("ops-telegram", secret, update.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(
            model::Classify::class(&err),
            model::ErrorClass::Unauthenticated,
            "{err}"
        );
    }
    assert!(!op.state.lock().paused);
    channels
        .telegram_webhook(
            "ops-telegram",
            Some("s3cret-token_for-telegram"),
            update.as_bytes(),
        )
        .await
        .unwrap();
    wait_for("the pause", Duration::from_secs(5), || async {
        op.state.lock().paused.then_some(())
    })
    .await;
    // The same update again (Telegram retries) is not handled twice.
    op.state.lock().paused = false;
    channels
        .telegram_webhook(
            "ops-telegram",
            Some("s3cret-token_for-telegram"),
            update.as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!op.state.lock().paused);
    assert_eq!(op.state.lock().audit.len(), 1);
}
