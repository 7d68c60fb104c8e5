//! Messages in each provider's own format, from one card: Telegram HTML with an inline
//! keyboard, Slack text and Block Kit, a Teams Adaptive Card, email text, and the webhook's
//! versioned JSON. Plain sentences, escaped for the format they go into.

use crate::event::{ApprovalBrief, ApprovalStatus, ChannelEvent, IncidentBrief, ThreadCard};
use model::{Severity, StatementKind};
use serde_json::{Value, json};

/// The webhook JSON's schema name; a breaking change gets a new version.
pub const WEBHOOK_SCHEMA: &str = "srebot.channel.v1";

/// Telegram's limit on a message's text.
const TELEGRAM_MAX_TEXT: usize = 4_000;

fn mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
    }
}

/// `crash_loop` → `Crash loop`.
pub fn type_words(incident_type: &str) -> String {
    let words = incident_type.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// `HH:MM UTC` of a Unix-ms time.
pub fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_default()
}

/// RFC 3339 of a Unix-ms time.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Escapes text for Telegram's HTML parse mode.
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for Slack's mrkdwn.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The headline of an incident: `Crash loop on deployment/shop/payments-api`.
pub fn headline(incident: &IncidentBrief) -> String {
    format!(
        "{} on {}",
        type_words(&incident.incident_type),
        incident.target
    )
}

/// One approval in a sentence.
pub fn approval_line(a: &ApprovalBrief) -> String {
    match a.status {
        ApprovalStatus::Pending => format!(
            "{}: {} on {} (policy clause {}), approval {}, expires {}.{}",
            StatementKind::RequiredApproval.label(),
            a.action,
            a.target,
            a.clause,
            a.id,
            clock(a.expires_ms),
            if a.undo.is_empty() {
                String::new()
            } else {
                format!(" To undo it: {}", a.undo)
            }
        ),
        ApprovalStatus::Approved => format!(
            "Approved: {} on {}{}{}.",
            a.action,
            a.target,
            a.answered_by
                .as_ref()
                .map(|w| format!(" by {w}"))
                .unwrap_or_default(),
            a.note
                .as_ref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        ApprovalStatus::Rejected => format!(
            "Rejected: {} on {}{}{}.",
            a.action,
            a.target,
            a.answered_by
                .as_ref()
                .map(|w| format!(" by {w}"))
                .unwrap_or_default(),
            a.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        ApprovalStatus::Expired => format!(
            "Expired unanswered: {} on {} (approval {}).",
            a.action, a.target, a.id
        ),
        ApprovalStatus::Withdrawn => format!(
            "Withdrawn: {} on {} no longer needs a person{}.",
            a.action,
            a.target,
            a.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    }
}

/// The card as plain text lines (email, Teams, Slack's fallback text).
pub fn card_lines(card: &ThreadCard) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(i) = &card.incident {
        out.push(format!(
            "{} — {}, {}.",
            headline(i),
            i.severity.as_str(),
            i.status
        ));
        if !i.summary.is_empty() {
            out.push(format!(
                "{}: {}",
                StatementKind::Observation.label(),
                i.summary
            ));
        }
        out.push(format!(
            "Incident {} opened {}.",
            i.id,
            clock(i.opened_at_ms)
        ));
    }
    for a in &card.approvals {
        out.push(approval_line(a));
    }
    out.extend(card.lines.iter().cloned());
    out
}

/// A Telegram message: HTML text and, while approvals wait and the provider may carry them,
/// an inline keyboard. `code` gives each pending approval's short callback code.
pub fn telegram_card(
    card: &ThreadCard,
    buttons: bool,
    code: &dyn Fn(&ApprovalBrief) -> Option<String>,
) -> (String, Value) {
    let mut text = String::new();
    if let Some(i) = &card.incident {
        text.push_str(&format!(
            "{} <b>{}</b> — {}, {}\n",
            mark(i.severity),
            html(&headline(i)),
            i.severity.as_str(),
            html(&i.status)
        ));
        if !i.summary.is_empty() {
            text.push_str(&html(&i.summary));
            text.push('\n');
        }
        text.push_str(&format!(
            "Incident <code>{}</code> opened {}\n",
            html(&i.id),
            clock(i.opened_at_ms)
        ));
    }
    for a in &card.approvals {
        text.push('\n');
        text.push_str(&html(&approval_line(a)));
    }
    if !card.lines.is_empty() {
        text.push_str("\n\n");
        let lines: Vec<String> = card
            .lines
            .iter()
            .map(|l| format!("• {}", html(l)))
            .collect();
        text.push_str(&lines.join("\n"));
    }
    if text.chars().count() > TELEGRAM_MAX_TEXT {
        text = text.chars().take(TELEGRAM_MAX_TEXT).collect();
        // A cut tag would make the HTML invalid: drop the partial tag.
        if let Some(open) = text.rfind('<')
            && !text[open..].contains('>')
        {
            text.truncate(open);
        }
        text.push('…');
    }
    let mut rows: Vec<Value> = Vec::new();
    if buttons {
        for a in card.pending() {
            let Some(code) = code(a) else { continue };
            rows.push(json!([
                {"text": "Approve", "callback_data": format!("a:{code}")},
                {"text": "Reject", "callback_data": format!("r:{code}")},
            ]));
            rows.push(json!([
                {"text": "Show evidence", "callback_data": format!("e:{code}")},
                {"text": "Silence 1h", "callback_data": format!("s:{code}")},
            ]));
        }
    }
    (text, json!({ "inline_keyboard": rows }))
}

/// A Slack message: fallback text and Block Kit blocks, with buttons while approvals wait
/// and the provider may carry them.
pub fn slack_card(card: &ThreadCard, buttons: bool) -> (String, Value) {
    let lines = card_lines(card);
    let fallback = lines.first().cloned().unwrap_or_default();
    let mut blocks = Vec::new();
    if let Some(i) = &card.incident {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!(
                "{} *{}* — {}, {}\n{}",
                mark(i.severity),
                slack_escape(&headline(i)),
                i.severity.as_str(),
                slack_escape(&i.status),
                slack_escape(&i.summary)
            )}
        }));
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("Incident `{}` opened {}", slack_escape(&i.id), clock(i.opened_at_ms))}]
        }));
    }
    for a in &card.approvals {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_escape(&approval_line(a))}
        }));
        if buttons && a.status == ApprovalStatus::Pending {
            blocks.push(json!({
                "type": "actions",
                "block_id": format!("approval:{}", a.id),
                "elements": [
                    {"type": "button", "action_id": "approve", "style": "primary", "value": a.id,
                     "text": {"type": "plain_text", "text": "Approve"}},
                    {"type": "button", "action_id": "reject", "style": "danger", "value": a.id,
                     "text": {"type": "plain_text", "text": "Reject"}},
                    {"type": "button", "action_id": "evidence", "value": a.incident_id,
                     "text": {"type": "plain_text", "text": "Show evidence"}},
                    {"type": "button", "action_id": "silence", "value": a.incident_id,
                     "text": {"type": "plain_text", "text": "Silence 1h"}}
                ]
            }));
        }
    }
    if !card.lines.is_empty() {
        let text: Vec<String> = card
            .lines
            .iter()
            .map(|l| format!("• {}", slack_escape(l)))
            .collect();
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text.join("\n")}}));
    }
    (fallback, Value::Array(blocks))
}

/// One event as a Slack incoming-webhook message: `{"text": ...}` with the event's sentence
/// first (what `policy.notify_webhook` receivers read).
pub fn slack_webhook_message(event: &ChannelEvent) -> Value {
    json!({ "text": event.text })
}

/// One event as a Teams Workflows message: an Adaptive Card in the `message` envelope.
pub fn teams_message(event: &ChannelEvent) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": event.text, "weight": "Bolder", "size": "Medium", "wrap": true
    })];
    if let Some(i) = &event.incident {
        body.push(json!({"type": "TextBlock", "text": i.summary, "wrap": true}));
        body.push(json!({
            "type": "FactSet",
            "facts": [
                {"title": "Incident", "value": i.id},
                {"title": "Type", "value": i.incident_type},
                {"title": "Target", "value": i.target},
                {"title": "Severity", "value": i.severity.as_str()},
                {"title": "Status", "value": i.status},
                {"title": "Opened", "value": clock(i.opened_at_ms)},
            ]
        }));
    }
    if let Some(a) = &event.approval {
        body.push(json!({"type": "TextBlock", "text": approval_line(a), "wrap": true}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

/// The webhook's versioned JSON (see the README's schema).
pub fn webhook_body(event: &ChannelEvent, delivery_id: &str) -> Value {
    json!({
        "schema": WEBHOOK_SCHEMA,
        "delivery_id": delivery_id,
        "event": event.kind.as_str(),
        "key": event.key,
        "at": rfc3339(event.at_ms),
        "text": event.text,
        "incident": event.incident,
        "approval": event.approval,
    })
}

/// An email's subject and text body for one event of a thread.
pub fn email(event: &ChannelEvent, card: &ThreadCard) -> (String, String) {
    let subject = match &card.incident {
        Some(i) => format!(
            "[srebot] {} {} on {} ({})",
            i.severity.as_str(),
            i.incident_type,
            i.target,
            i.id
        ),
        None => format!("[srebot] {}", event.text),
    };
    let mut body = format!("{}\n\n", event.text);
    for line in card_lines(card) {
        body.push_str(&line);
        body.push('\n');
    }
    body.push_str("\n— SRE Smart Bot\n");
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ThreadCard {
        ThreadCard {
            incident: Some(IncidentBrief {
                id: "inc-1".into(),
                incident_type: "crash_loop".into(),
                domain: "application_services".into(),
                severity: Severity::Critical,
                status: "observed".into(),
                target: "deployment/shop/payments-api".into(),
                target_name: "payments-api".into(),
                summary: "Crash loop <b>bad</b> & worse".into(),
                sources: vec![],
                environment: None,
                opened_at_ms: 0,
            }),
            approvals: vec![ApprovalBrief {
                id: "apr-1".into(),
                incident_id: "inc-1".into(),
                action: "restart_deployment".into(),
                target: "deployment/shop/payments-api".into(),
                clause: "actions.restart_deployment".into(),
                requested_ms: 0,
                expires_ms: 3_600_000,
                status: ApprovalStatus::Pending,
                answered_by: None,
                note: None,
                undo: String::new(),
            }],
            lines: vec![],
        }
    }

    #[test]
    fn telegram_html_is_escaped_and_buttons_carry_short_codes() {
        let (text, keyboard) = telegram_card(&card(), true, &|_| Some("Ab3dE6".into()));
        assert!(
            text.contains("<b>Crash loop on deployment/shop/payments-api</b>"),
            "{text}"
        );
        assert!(
            text.contains("Crash loop &lt;b&gt;bad&lt;/b&gt; &amp; worse"),
            "{text}"
        );
        let rows = keyboard["inline_keyboard"].as_array().unwrap();
        assert_eq!(rows[0][0]["callback_data"], "a:Ab3dE6");
        assert_eq!(rows[1][1]["text"], "Silence 1h");
        for row in rows {
            for b in row.as_array().unwrap() {
                assert!(b["callback_data"].as_str().unwrap().len() <= 64);
            }
        }
        // Once decided, no buttons.
        let mut decided = card();
        decided.approvals[0].status = ApprovalStatus::Approved;
        decided.approvals[0].answered_by = Some("alice via Telegram user 42".into());
        let (text, keyboard) = telegram_card(&decided, true, &|_| Some("x".into()));
        assert!(text.contains("Approved: restart_deployment"), "{text}");
        assert!(text.contains("alice via Telegram user 42"), "{text}");
        assert_eq!(keyboard["inline_keyboard"], json!([]));
        // A provider without approvals never shows buttons.
        let (_, keyboard) = telegram_card(&card(), false, &|_| Some("x".into()));
        assert_eq!(keyboard["inline_keyboard"], json!([]));
    }

    #[test]
    fn slack_blocks_have_buttons_only_while_pending() {
        let (_, blocks) = slack_card(&card(), true);
        let actions: Vec<&Value> = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .collect();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0]["elements"][0]["value"], "apr-1");
        let (_, blocks) = slack_card(&card(), false);
        assert!(!blocks.to_string().contains("\"actions\""));
    }
}
