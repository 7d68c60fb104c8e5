//! Email to a real SMTP server (aiosmtpd, STARTTLS with a CA made in the test; the mails are
//! read back from its maildir on disk), Teams and webhooks against loopback receivers speaking
//! their wire formats (the webhook signature verified as a receiver would), the in-app feed,
//! WhatsApp reported as not deliverable, and Slack's signed requests.

use crate::support::*;
use app::Role;
use channels::{ApprovalStatus, Channels, Directory};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// aiosmtpd with STARTTLS required, writing a maildir under `dir/mail`; `None` when it is not
/// installed (SKIPPED). Returns the guard, its port and the CA file to trust.
fn smtp_sink(dir: &Path) -> Option<(ChildGuard, u16, std::path::PathBuf)> {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let ca_file = dir.join("smtp-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("smtp.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("smtp-key.pem"), leaf_key.serialize_pem()).unwrap();
    let mail = dir.join("mail");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(mail.join(sub)).unwrap();
    }
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "--tlscert",
        ])
        .arg(dir.join("smtp.pem"))
        .arg("--tlskey")
        .arg(dir.join("smtp-key.pem"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&mail)
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
    Some((guard, port, ca_file))
}

/// Every mail in the maildir, oldest first.
fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("mail/new"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    // Folded header lines unfolded, as a mail reader sees them.
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .replace("\r\n", "\n")
                .replace("\n ", " ")
                .replace("\n\t", " ")
        })
        .collect()
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn email_threads_an_incident_and_sends_the_digest_over_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_sink, port, ca)) = smtp_sink(dir.path()) else {
        println!("SKIPPED: aiosmtpd is not installed (scripts/test.sh installs it with pip)");
        return;
    };
    write(
        dir.path(),
        "email.toml",
        &format!(
            "smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"starttls\"\n\
             ca_file = \"{}\"\nfrom = \"SRE Smart Bot <srebot@example.test>\"\n\
             to = [\"oncall@example.test\"]\ndigest_to = [\"cto@example.test\"]\n",
            ca.display()
        ),
    );
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"ops-mail\"\nkind = \"email\"\nconfig = \"email.toml\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op, Directory::default())
        .await
        .unwrap();
    channels.test("ops-mail").await.unwrap();
    channels.publish(&opened("0")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(
        channels::hub::COALESCE_MS as u64 + 50,
    ))
    .await;
    channels.flush().await.unwrap();
    channels.publish(&asked()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(
        channels::hub::COALESCE_MS as u64 + 50,
    ))
    .await;
    channels.flush().await.unwrap();
    assert_eq!(channels.digests(true).await.unwrap(), ["ops-mail"]);
    let all = wait_for("four mails on disk", Duration::from_secs(10), || async {
        let m = mails(dir.path());
        (m.len() >= 4).then_some(m)
    })
    .await;
    assert_eq!(all.len(), 4, "{all:#?}");
    assert!(
        header(&all[0], "Subject").unwrap().contains("Test message"),
        "{}",
        all[0]
    );
    let first = &all[1];
    assert_eq!(
        header(first, "Subject"),
        Some("[srebot] critical crash_loop on deployment/shop/payments-api (inc-3b881be00b61c2aa)")
    );
    assert_eq!(header(first, "To"), Some("oncall@example.test"));
    let root = header(first, "Message-ID").unwrap();
    assert!(root.contains("inc-3b881be00b61c2aa"), "{root}");
    let second = &all[2];
    assert_eq!(header(second, "In-Reply-To"), Some(root));
    assert!(header(second, "Subject").unwrap().starts_with("Re: "));
    assert!(second.contains("Approval needed"), "{second}");
    let digest = &all[3];
    assert_eq!(header(digest, "To"), Some("cto@example.test"));
    assert!(
        header(digest, "Subject")
            .unwrap()
            .starts_with("[srebot] Summary: 1 opened"),
        "{digest}"
    );
    assert!(digest.contains("1 approval is waiting"), "{digest}");
}

#[tokio::test]
async fn teams_gets_an_adaptive_card_and_webhooks_a_signed_versioned_body() {
    let dir = tempfile::tempdir().unwrap();
    let (teams_url, teams) = receiver::start("/workflows/abc/triggers/manual/run").await;
    let (hook_url, hook) = receiver::start("/srebot").await;
    write(dir.path(), "teams.url", &teams_url);
    write(
        dir.path(),
        "teams.toml",
        "webhook_url_file = \"teams.url\"\n",
    );
    write(dir.path(), "hook.secret", "whsec-0123456789");
    write(
        dir.path(),
        "hook.toml",
        &format!("url = \"{hook_url}\"\nsecret_file = \"hook.secret\"\n"),
    );
    write(dir.path(), "wa.toml", "phone_number_id = \"1\"\n");
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"teams\"\nkind = \"teams\"\nconfig = \"teams.toml\"\n\
         [[channels.provider]]\nid = \"hook\"\nkind = \"webhook\"\nconfig = \"hook.toml\"\n\
         [[channels.provider]]\nid = \"feed\"\nkind = \"in_app\"\n\
         [[channels.provider]]\nid = \"wa\"\nkind = \"whatsapp\"\nconfig = \"wa.toml\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let channels = Channels::open(
        loaded,
        &ledger,
        MemOperator::with_crash_loop(),
        Directory::default(),
    )
    .await
    .unwrap();
    let mut feed = channels.feed().subscribe();
    assert_eq!(
        channels.publish(&opened("0")).await.unwrap(),
        3,
        "WhatsApp gets nothing"
    );
    tokio::time::sleep(Duration::from_millis(
        channels::hub::COALESCE_MS as u64 + 50,
    ))
    .await;
    channels.flush().await.unwrap();

    let (headers, body) = teams.lock().requests[0].clone();
    assert_eq!(headers["content-type"], "application/json");
    let card: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert!(
        attachment["content"]["body"]
            .to_string()
            .contains("payments-api")
    );

    let (headers, body) = hook.lock().requests[0].clone();
    let ts = headers["x-srebot-timestamp"].to_str().unwrap();
    let sig = headers["x-srebot-signature"].to_str().unwrap();
    assert!(channels::signature::webhook_verify(
        "whsec-0123456789",
        ts,
        sig,
        &body
    ));
    assert!(!channels::signature::webhook_verify(
        "another-secret",
        ts,
        sig,
        &body
    ));
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["schema"], "srebot.channel.v1");
    assert_eq!(json["event"], "opened");
    assert_eq!(json["incident"]["id"], "inc-3b881be00b61c2aa");
    assert_eq!(
        headers["x-srebot-delivery"].to_str().unwrap(),
        json["delivery_id"]
    );

    let item = feed.try_recv().unwrap();
    assert_eq!(
        (item.provider.as_str(), item.event.key.as_str()),
        ("feed", opened("0").key.as_str())
    );

    let list = channels.list().await.unwrap();
    let wa = list.iter().find(|c| c.id == "wa").unwrap();
    assert!(
        !wa.deliverable && wa.note.contains("not deliverable"),
        "{wa:?}"
    );
    let err = channels.test("wa").await.unwrap_err().to_string();
    assert!(err.contains("not deliverable"), "{err}");
    let teams_view = list.iter().find(|c| c.id == "teams").unwrap();
    assert_eq!((teams_view.delivered, teams_view.queue_depth), (1, 0));
}

/// A loopback stand-in for Slack's Web API: keeps every call.
async fn slack_api() -> (String, receiver::Shared) {
    let (url, shared) = receiver::start("/api/{method}").await;
    (
        url.trim_end_matches("/api/{method}").to_owned() + "/api",
        shared,
    )
}

#[tokio::test]
async fn slack_signed_requests_are_accepted_and_bad_or_stale_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (api, _calls) = slack_api().await;
    write(dir.path(), "bot.token", "xoxb-test-token");
    write(
        dir.path(),
        "signing.secret",
        "8f742231b10e8888abcd99yyyzzz85a5",
    );
    write(
        dir.path(),
        "slack.toml",
        &format!(
            "bot_token_file = \"bot.token\"\nchannel = \"C0OPS\"\nsigning_secret_file = \"signing.secret\"\napi_url = \"{api}\"\n"
        ),
    );
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"ops-slack\"\nkind = \"slack\"\napprovals = true\nconfig = \"slack.toml\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let mut directory = Directory::default();
    directory.add_slack(
        "U0ALICE",
        caller("alice", Role::Approve, Some("sre-oncall")),
    );
    let channels = Channels::open(loaded, &ledger, op.clone(), directory)
        .await
        .unwrap();

    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let now = (now_ms() / 1000).to_string();
    let payload = serde_json::json!({"type": "block_actions", "user": {"id": "U0ALICE", "username": "alice"},
        "actions": [{"action_id": "approve", "value": approval().id}]});
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let sig = channels::signature::slack_sign(secret, &now, body.as_bytes());
    // Bad signature, stale timestamp, missing headers: refused, nothing happens.
    let stale = (now_ms() / 1000 - 600).to_string();
    let stale_sig = channels::signature::slack_sign(secret, &stale, body.as_bytes());
    for (ts, s) in [
        (Some(now.as_str()), Some("v0=00")),
        (Some(stale.as_str()), Some(stale_sig.as_str())),
        (None, None),
    ] {
        let err = channels
            .slack_interaction("ops-slack", ts, s, body.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(
            model::Classify::class(&err),
            model::ErrorClass::Unauthenticated,
            "{err}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(op.state.lock().approvals[0].status, ApprovalStatus::Pending);
    // Signed: accepted, and the approval is made by the mapped user.
    channels
        .slack_interaction("ops-slack", Some(&now), Some(&sig), body.as_bytes())
        .await
        .unwrap();
    wait_for("the approval", Duration::from_secs(5), || async {
        (op.state.lock().approvals[0].status == ApprovalStatus::Approved).then_some(())
    })
    .await;
    assert_eq!(
        op.state.lock().audit,
        [format!(
            "approved {} by alice via Slack user U0ALICE (alice)",
            approval().id
        )]
    );
    // A slash command, signed, answered inline; a stranger is told they are not mapped.
    for (user, want) in [("U0ALICE", "1 incident is open"), ("U0EVE", "not mapped")] {
        let body = format!("command=%2Fsrebot&text=status&user_id={user}&user_name=x");
        let sig = channels::signature::slack_sign(secret, &now, body.as_bytes());
        let answer = channels
            .slack_command("ops-slack", Some(&now), Some(&sig), body.as_bytes())
            .await
            .unwrap();
        assert!(answer["text"].as_str().unwrap().contains(want), "{answer}");
    }
}

/// The escalation step: an approval waiting past half its expiry is told to the matching
/// route's `escalate_to` providers, once; a fresh one is not.
#[tokio::test]
async fn an_approval_waiting_past_half_its_time_is_escalated_once() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"chat\"\nkind = \"in_app\"\n\
         [[channels.provider]]\nid = \"leads\"\nkind = \"in_app\"\n\
         [[channels.route]]\nproviders = [\"chat\"]\nseverity = [\"critical\"]\nescalate_to = [\"leads\"]\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op.clone(), Directory::default())
        .await
        .unwrap();
    // Asked 10 minutes ago, expiring in 50: not yet.
    {
        let mut s = op.state.lock();
        s.approvals[0].requested_ms = now_ms() - 600_000;
        s.approvals[0].expires_ms = now_ms() + 3_000_000;
    }
    assert_eq!(channels.escalate().await.unwrap(), 0);
    // Asked 40 minutes ago, expiring in 20: past half.
    {
        let mut s = op.state.lock();
        s.approvals[0].requested_ms = now_ms() - 2_400_000;
        s.approvals[0].expires_ms = now_ms() + 1_200_000;
    }
    assert_eq!(channels.escalate().await.unwrap(), 1);
    assert_eq!(
        channels.escalate().await.unwrap(),
        1,
        "asked again, queued once"
    );
    channels.flush().await.unwrap();
    let leads = channels.outbox().rows("leads").await.unwrap();
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(leads[0].0, format!("approval/{}/escalated", approval().id));
    assert!(channels.outbox().rows("chat").await.unwrap().is_empty());
    let item = channels.feed().recent().pop().unwrap();
    assert_eq!(item.provider, "leads");
    assert!(
        item.event.text.starts_with("Still waiting"),
        "{}",
        item.event.text
    );
}
