//! The running channels: events routed into the outbox, a worker delivering it per provider
//! (threads edited and replied to, retries with backoff, the delivery-failure incident),
//! Telegram polling, the escalation step, the email digest, and every inbound chat request
//! (Telegram updates, Slack interactions and slash commands, the chat API) answered through
//! the [`Operator`] with the chat user's [`Caller`].
//!
//! Chat users act only as the identity they are mapped to (Telegram or Slack user id in the
//! approvers or tokens file); an unmapped user is refused and nothing happens.

use crate::answer;
use crate::command::{self, Command, HELP};
use crate::config::{Loaded, Provider, ProviderKind, Route, Settings, TelegramMode};
use crate::error::{ChannelError, DeliveryError};
use crate::event::{ApprovalBrief, ChannelEvent, ThreadCard};
use crate::operator::{ChatUser, Operator, OperatorError};
use crate::outbox::{Outbox, OutboxHealth, OutboxRow, Thread};
use crate::providers::email::EmailClient;
use crate::providers::in_app::{Feed, FeedItem};
use crate::providers::now_ms;
use crate::providers::paging::PagingClient;
use crate::providers::slack::{self, SlackClient};
use crate::providers::teams::TeamsClient;
use crate::providers::telegram::{TelegramClient, Update};
use crate::providers::webhook::WebhookClient;
use crate::retry::Backoff;
use crate::{render, routing, signature};
use app::{Caller, Operation};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Chat users and the identities they act as.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    telegram: HashMap<i64, Caller>,
    slack: HashMap<String, Caller>,
}

impl Directory {
    pub fn add_telegram(&mut self, user_id: i64, caller: Caller) {
        self.telegram.insert(user_id, caller);
    }

    pub fn add_slack(&mut self, user_id: &str, caller: Caller) {
        self.slack.insert(user_id.to_owned(), caller);
    }

    fn caller(&self, kind: ProviderKind, user_id: &str) -> Option<Caller> {
        match kind {
            ProviderKind::Telegram => user_id
                .parse::<i64>()
                .ok()
                .and_then(|id| self.telegram.get(&id).cloned()),
            ProviderKind::Slack => self.slack.get(user_id).cloned(),
            _ => None,
        }
    }
}

/// A provider's client.
#[derive(Debug)]
enum Client {
    InApp,
    Email(Box<EmailClient>),
    Webhook(WebhookClient),
    Slack(SlackClient),
    Teams(TeamsClient),
    Paging(PagingClient),
    Telegram(TelegramClient),
    /// WhatsApp: nothing is sent.
    None,
}

/// What the worker remembers of a provider between attempts.
#[derive(Debug, Default, Clone)]
struct Failing {
    /// No attempt before this (backoff, `Retry-After`).
    blocked_until_ms: i64,
    /// Failing since (cleared by a delivery).
    since_ms: Option<i64>,
    last_error: Option<String>,
    /// Whether the delivery-failure incident is open.
    incident_open: bool,
}

#[derive(Debug)]
struct Live {
    provider: Provider,
    client: Client,
    failing: Mutex<Failing>,
}

/// A provider as `GET /api/v1/channels` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    pub id: String,
    pub kind: &'static str,
    pub display_name: String,
    pub enabled: bool,
    pub approvals: bool,
    pub deliverable: bool,
    /// A sentence on what the provider does (mode, threads) or why it does not deliver.
    pub note: String,
    pub last_delivery_ms: Option<i64>,
    pub last_error: Option<String>,
    pub queue_depth: u64,
    pub delivered: u64,
    pub failed: u64,
    pub failing_since_ms: Option<i64>,
}

/// The answer to one chat command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatAnswer {
    /// The command understood (`status`, ...), or `none`.
    pub command: &'static str,
    /// Whether it was done (false: refused, unknown, failed).
    pub ok: bool,
    pub text: String,
}

struct Inner<O> {
    live: Vec<Arc<Live>>,
    routes: Vec<Route>,
    outbox: Outbox,
    operator: O,
    directory: parking_lot::RwLock<Directory>,
    backoff: Backoff,
    failure_after_ms: i64,
    give_up_after_ms: i64,
    wake: tokio::sync::Notify,
    feed: Feed,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The running channels; cheap to clone.
pub struct Channels<O> {
    inner: Arc<Inner<O>>,
}

impl<O> Clone for Channels<O> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<O> std::fmt::Debug for Channels<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field(
                "providers",
                &self
                    .inner
                    .live
                    .iter()
                    .map(|l| &l.provider.id)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The `channel_state` scope of silences (`name` is the incident id).
const SILENCE_SCOPE: &str = "*silence";

/// How long an incident's events wait before going out, so a burst (opened, then its
/// approval asked a moment later) lands as one message.
pub const COALESCE_MS: i64 = 1_000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn client_of(p: &Provider) -> Result<Client, ChannelError> {
    let key = format!("channels.provider[{}].config", p.id);
    Ok(match &p.settings {
        Settings::InApp => Client::InApp,
        Settings::Email(s) => Client::Email(Box::new(EmailClient::new(s, &key)?)),
        Settings::Webhook(s) => Client::Webhook(WebhookClient::new(s, &key)?),
        Settings::Slack(s) => Client::Slack(SlackClient::new(s, &key)?),
        Settings::Teams(s) => Client::Teams(TeamsClient::new(s, &key)?),
        Settings::Paging(s) => Client::Paging(PagingClient::new(s, &key, &p.id)?),
        Settings::Telegram(s) => Client::Telegram(TelegramClient::new(s, &key)?),
        Settings::WhatsApp => Client::None,
    })
}

/// What a refused or failed application call tells the chat user.
fn refusal(error: &OperatorError) -> String {
    match error {
        OperatorError::Refused(m) => format!("Refused: {m}"),
        OperatorError::NotFound(m) => format!("Not found: {m}"),
        OperatorError::Conflict(m) => format!("Nothing changed: {m}"),
        OperatorError::Invalid(m) => m.clone(),
        OperatorError::Failed(m) => format!("That failed on our side: {m}. Try again."),
    }
}

impl<O: Operator> Channels<O> {
    /// Builds every provider's client and opens the outbox in `ledger`.
    pub async fn open(
        loaded: Loaded,
        ledger: &incident::Ledger,
        operator: O,
        directory: Directory,
    ) -> Result<Self, ChannelError> {
        let mut live = Vec::new();
        for provider in loaded.providers {
            let client = client_of(&provider)?;
            live.push(Arc::new(Live {
                provider,
                client,
                failing: Mutex::new(Failing::default()),
            }));
        }
        let outbox = Outbox::open(ledger).await?;
        for l in &live {
            if let Some(since) = outbox.state(&l.provider.id, "failing_since").await? {
                let open = outbox
                    .state(&l.provider.id, "failure_incident")
                    .await?
                    .is_some_and(|v| v == "open");
                let mut failing = l.failing.lock();
                failing.since_ms = since.parse().ok();
                failing.incident_open = open;
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                live,
                routes: loaded.routes,
                outbox,
                operator,
                directory: parking_lot::RwLock::new(directory),
                backoff: Backoff {
                    initial: loaded.retry_initial,
                    max: loaded.retry_max,
                },
                failure_after_ms: ms(loaded.failure_incident_after),
                give_up_after_ms: ms(loaded.give_up_after),
                wake: tokio::sync::Notify::new(),
                feed: Feed::default(),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Replaces who chat users are (after a tokens or approvers reload).
    pub fn set_directory(&self, directory: Directory) {
        *self.inner.directory.write() = directory;
    }

    pub fn operator(&self) -> &O {
        &self.inner.operator
    }

    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// The in-app feed (the workspace's SSE subscribes here).
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    fn live(&self, id: &str) -> Result<&Arc<Live>, ChannelError> {
        self.inner
            .live
            .iter()
            .find(|l| l.provider.id == id)
            .ok_or_else(|| ChannelError::UnknownProvider { id: id.to_owned() })
    }

    /// Starts the delivery worker, Telegram pollers (and `setWebhook`), the escalation step
    /// and the email digest. [`Channels::stop`] ends them.
    pub fn spawn(&self) {
        let mut tasks = self.inner.tasks.lock();
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.worker().await }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.periodic().await }));
        for l in &self.inner.live {
            let (Client::Telegram(client), Settings::Telegram(s)) =
                (&l.client, &l.provider.settings)
            else {
                continue;
            };
            if !l.provider.enabled {
                continue;
            }
            match s.mode {
                TelegramMode::Poll => {
                    let me = self.clone();
                    let live = Arc::clone(l);
                    tasks.push(tokio::spawn(async move { me.poll_telegram(live).await }));
                }
                TelegramMode::Webhook => {
                    if let Some(url) = s.webhook_url.clone() {
                        let client = client.clone();
                        let secret = s.webhook_secret.clone();
                        let id = l.provider.id.clone();
                        tasks.push(tokio::spawn(async move {
                            let secret = secret.as_ref().map(|s| s.expose());
                            if let Err(error) = client.set_webhook(&url, secret).await {
                                tracing::error!(provider = %id, %error, "setWebhook failed");
                            }
                        }));
                    }
                }
            }
        }
    }

    /// Stops every background task (what is queued stays in the outbox).
    pub fn stop(&self) {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Routes one event into the outbox; returns how many providers it was queued for.
    pub async fn publish(&self, event: &ChannelEvent) -> Result<usize, ChannelError> {
        let now = now_ms();
        let providers: Vec<Provider> = self.inner.live.iter().map(|l| l.provider.clone()).collect();
        let mut queued = 0;
        let mut settle = if event.thread().is_some() {
            now + COALESCE_MS
        } else {
            now
        };
        // A silenced incident's notices wait for the silence to end (answers to a person's
        // own decision still go out: they were asked for).
        if event.kind != crate::event::EventKind::ApprovalDecided
            && let Some(until) = self.silenced_until(event.thread()).await?
        {
            settle = settle.max(until);
        }
        for target in routing::targets(&self.inner.routes, &providers, event, now) {
            if self
                .inner
                .outbox
                .enqueue(
                    &target.provider,
                    event,
                    target.not_before_ms.max(settle),
                    now,
                )
                .await?
            {
                queued += 1;
            }
        }
        if queued > 0 {
            self.inner.wake.notify_one();
        }
        Ok(queued)
    }

    /// Queues an event for named providers, outside the routes (escalation step).
    async fn publish_to(&self, ids: &[String], event: &ChannelEvent) -> Result<(), ChannelError> {
        let now = now_ms();
        for id in ids {
            self.inner.outbox.enqueue(id, event, now, now).await?;
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Every provider with its health.
    pub async fn list(&self) -> Result<Vec<ChannelView>, ChannelError> {
        let mut out = Vec::new();
        for l in &self.inner.live {
            let p = &l.provider;
            let health: OutboxHealth = self.inner.outbox.health(&p.id).await?;
            let failing = l.failing.lock().clone();
            let note = match &p.settings {
                Settings::WhatsApp => {
                    "WhatsApp is accepted as a provider but not deliverable yet: nothing is sent."
                        .to_owned()
                }
                Settings::Telegram(s) => format!(
                    "Telegram bot, one message per incident edited as it changes, updates by {}.",
                    match s.mode {
                        TelegramMode::Poll => "getUpdates long polling",
                        TelegramMode::Webhook => "webhook",
                    }
                ),
                Settings::Slack(s) => match s.mode {
                    crate::config::SlackMode::Webhook { .. } => {
                        "Slack incoming webhook, one message per event.".to_owned()
                    }
                    crate::config::SlackMode::App { .. } => {
                        "Slack app, one thread per incident with buttons.".to_owned()
                    }
                },
                Settings::Teams(_) => "Teams Workflows webhook, one card per event.".to_owned(),
                Settings::Paging(_) => "One alert per incident, keyed by its id: triggered while open, acknowledged while worked on, resolved with it.".to_owned(),
                Settings::Email(_) => {
                    "Email, one thread per incident; digest to admins.".to_owned()
                }
                Settings::Webhook(_) => {
                    format!("Signed JSON ({}) per event.", render::WEBHOOK_SCHEMA)
                }
                Settings::InApp => "The workspace's live feed.".to_owned(),
            };
            out.push(ChannelView {
                id: p.id.clone(),
                kind: p.kind.as_str(),
                display_name: p.display_name.clone(),
                enabled: p.enabled,
                approvals: p.approvals,
                deliverable: p.kind.deliverable(),
                note,
                last_delivery_ms: health.last_delivery_ms,
                last_error: failing.last_error.or(health.last_error),
                queue_depth: health.queue_depth,
                delivered: health.delivered,
                failed: health.failed,
                failing_since_ms: failing.since_ms,
            });
        }
        Ok(out)
    }

    /// Sends a test message to one provider now (not through the outbox) and says how it went.
    pub async fn test(&self, id: &str) -> Result<(), ChannelError> {
        let live = self.live(id)?;
        if !live.provider.kind.deliverable() {
            return Err(ChannelError::NotDeliverable {
                id: id.to_owned(),
                kind: live.provider.kind.as_str(),
            });
        }
        if !live.provider.enabled {
            return Err(ChannelError::Disabled { id: id.to_owned() });
        }
        let row = OutboxRow {
            seq: 0,
            provider_id: id.to_owned(),
            event: ChannelEvent::test(id, now_ms()),
            thread_key: None,
            attempts: 0,
            next_attempt_ms: 0,
            created_ms: now_ms(),
        };
        self.deliver_group(live, std::slice::from_ref(&row))
            .await
            .map(|_| ())
            .map_err(|(_, source)| ChannelError::Delivery {
                id: id.to_owned(),
                source,
            })
    }

    /// One pass of the worker over every provider (what the background worker does each time
    /// it wakes).
    pub async fn flush(&self) -> Result<(), ChannelError> {
        for l in &self.inner.live {
            if l.provider.enabled && l.provider.kind.deliverable() {
                self.deliver_due(l).await?;
            }
        }
        Ok(())
    }

    /// The delivery worker: whenever woken (or every half second), every due group of every
    /// provider.
    async fn worker(&self) {
        loop {
            for l in &self.inner.live {
                if l.provider.enabled
                    && l.provider.kind.deliverable()
                    && let Err(error) = self.deliver_due(l).await
                {
                    tracing::error!(provider = %l.provider.id, error = %error, "channel worker");
                }
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Delivers what is due for one provider, stopping at the first failure (the provider is
    /// then left alone until its backoff or `Retry-After` has passed).
    async fn deliver_due(&self, live: &Arc<Live>) -> Result<(), ChannelError> {
        let now = now_ms();
        let blocked = live.failing.lock().blocked_until_ms > now;
        if !blocked {
            let pending = self.inner.outbox.pending(&live.provider.id, 200).await?;
            for group in Outbox::due(&pending, now) {
                let seqs: Vec<i64> = group.iter().map(|r| r.seq).collect();
                if group[0]
                    .created_ms
                    .saturating_add(self.inner.give_up_after_ms)
                    <= now
                {
                    self.inner
                        .outbox
                        .failed(
                            &seqs,
                            "not delivered within channels.give_up_after",
                            now,
                            true,
                        )
                        .await?;
                    continue;
                }
                match self.deliver_group(live, &group).await {
                    Ok(()) => {
                        self.inner.outbox.delivered(&seqs, now_ms()).await?;
                        self.succeeded(live).await?;
                    }
                    Err((done, error)) => {
                        self.inner.outbox.delivered(&done, now_ms()).await?;
                        let rest: Vec<i64> =
                            seqs.into_iter().filter(|s| !done.contains(s)).collect();
                        let attempts = group.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                        let delay = self.inner.backoff.delay(
                            attempts,
                            error.retry_after,
                            rand::random::<f64>(),
                        );
                        let next = now_ms() + ms(delay);
                        tracing::warn!(
                            provider = %live.provider.id,
                            error = %error.reason,
                            attempts,
                            retry_in_ms = ms(delay),
                            permanent = error.permanent,
                            "channel delivery failed"
                        );
                        self.inner
                            .outbox
                            .failed(&rest, &error.reason, next, error.permanent)
                            .await?;
                        if !error.permanent {
                            self.failed(live, &error, next).await?;
                            break;
                        }
                    }
                }
            }
        }
        self.check_failure_incident(live).await
    }

    async fn succeeded(&self, live: &Live) -> Result<(), ChannelError> {
        let was = {
            let mut f = live.failing.lock();
            let was = (f.since_ms.is_some(), f.incident_open);
            *f = Failing::default();
            was
        };
        if was.0 {
            self.inner
                .outbox
                .set_state(&live.provider.id, "failing_since", "")
                .await?;
        }
        if was.1 {
            self.inner
                .outbox
                .set_state(&live.provider.id, "failure_incident", "healed")
                .await?;
            if let Err(error) = self
                .inner
                .operator
                .delivery_failure(&live.provider.id, false, "delivering again")
                .await
            {
                tracing::warn!(provider = %live.provider.id, %error, "cannot heal the delivery-failure incident");
            }
        }
        Ok(())
    }

    async fn failed(
        &self,
        live: &Live,
        error: &DeliveryError,
        next_ms: i64,
    ) -> Result<(), ChannelError> {
        let first = {
            let mut f = live.failing.lock();
            f.blocked_until_ms = next_ms;
            f.last_error = Some(error.reason.clone());
            if f.since_ms.is_none() {
                f.since_ms = Some(now_ms());
                f.since_ms
            } else {
                None
            }
        };
        if let Some(since) = first {
            self.inner
                .outbox
                .set_state(&live.provider.id, "failing_since", &since.to_string())
                .await?;
        }
        Ok(())
    }

    /// Opens the delivery-failure incident once a provider has failed for longer than
    /// `channels.failure_incident_after`.
    async fn check_failure_incident(&self, live: &Live) -> Result<(), ChannelError> {
        let (since, open, error) = {
            let f = live.failing.lock();
            (f.since_ms, f.incident_open, f.last_error.clone())
        };
        let Some(since) = since else { return Ok(()) };
        if open || now_ms() - since < self.inner.failure_after_ms {
            return Ok(());
        }
        let detail = format!(
            "{} ({}) has not delivered for {}: {}",
            live.provider.display_name,
            live.provider.id,
            answer::human_duration(now_ms() - since),
            error.unwrap_or_default()
        );
        match self
            .inner
            .operator
            .delivery_failure(&live.provider.id, true, &detail)
            .await
        {
            Ok(()) => {
                live.failing.lock().incident_open = true;
                self.inner
                    .outbox
                    .set_state(&live.provider.id, "failure_incident", "open")
                    .await?;
            }
            Err(error) => {
                tracing::warn!(provider = %live.provider.id, %error, "cannot open the delivery-failure incident");
            }
        }
        Ok(())
    }

    /// Delivers one group (one row, or the due rows of one thread). On failure, the rows
    /// already delivered and the error.
    async fn deliver_group(
        &self,
        live: &Live,
        group: &[OutboxRow],
    ) -> Result<(), (Vec<i64>, DeliveryError)> {
        let fail = |done: Vec<i64>| move |e: DeliveryError| (done, e);
        let id = &live.provider.id;
        match &live.client {
            Client::None => Err((Vec::new(), DeliveryError::permanent("not deliverable"))),
            Client::InApp => {
                for row in group {
                    self.inner.feed.publish(FeedItem {
                        provider: id.clone(),
                        event: row.event.clone(),
                    });
                }
                Ok(())
            }
            Client::Paging(pager) => {
                let mut done = Vec::new();
                for row in group {
                    pager.send(&row.event).await.map_err(fail(done.clone()))?;
                    done.push(row.seq);
                }
                Ok(())
            }
            Client::Teams(teams) => {
                let mut done = Vec::new();
                for row in group {
                    teams
                        .post(&render::teams_message(&row.event))
                        .await
                        .map_err(fail(done.clone()))?;
                    done.push(row.seq);
                }
                Ok(())
            }
            Client::Webhook(webhook) => {
                let mut done = Vec::new();
                for row in group {
                    let delivery_id = format!("{id}-{}", row.seq);
                    webhook
                        .post(
                            &render::webhook_body(&row.event, &delivery_id),
                            &delivery_id,
                        )
                        .await
                        .map_err(fail(done.clone()))?;
                    done.push(row.seq);
                }
                Ok(())
            }
            Client::Slack(slack)
                if matches!(slack.mode, crate::config::SlackMode::Webhook { .. }) =>
            {
                let mut done = Vec::new();
                for row in group {
                    slack
                        .post_text(&render::slack_webhook_message(&row.event))
                        .await
                        .map_err(fail(done.clone()))?;
                    done.push(row.seq);
                }
                Ok(())
            }
            Client::Slack(_) | Client::Telegram(_) | Client::Email(_) => {
                match group[0].thread_key.as_deref() {
                    Some(key) => self
                        .deliver_thread(live, key, group)
                        .await
                        .map_err(fail(Vec::new())),
                    None => {
                        let mut done = Vec::new();
                        for row in group {
                            self.deliver_plain(live, &row.event)
                                .await
                                .map_err(fail(done.clone()))?;
                            done.push(row.seq);
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// A message outside any thread (a test).
    async fn deliver_plain(&self, live: &Live, event: &ChannelEvent) -> Result<(), DeliveryError> {
        match &live.client {
            Client::Telegram(tg) => tg
                .send(&render::html(&event.text), None, None)
                .await
                .map(|_| ()),
            Client::Slack(slack) => slack.post(&event.text, &json!([]), None).await.map(|_| ()),
            Client::Email(mail) => {
                let (subject, body) = render::email(event, &ThreadCard::default());
                mail.send(&subject, &body, None, None).await
            }
            _ => Ok(()),
        }
    }

    /// The rows of one thread: its card updated (first message sent, or edited), then a reply
    /// for what a person should be told of.
    async fn deliver_thread(
        &self,
        live: &Live,
        key: &str,
        group: &[OutboxRow],
    ) -> Result<(), DeliveryError> {
        let id = &live.provider.id;
        let storage = |e: ChannelError| DeliveryError::transient(e.to_string());
        let mut thread: Thread = self.inner.outbox.thread(id, key).await.map_err(storage)?;
        let had_root = thread.root_ref.is_some();
        for row in group {
            thread.card.apply(&row.event);
        }
        let buttons = live.provider.approvals;
        match &live.client {
            Client::Telegram(tg) => {
                let mut codes: HashMap<String, String> = HashMap::new();
                if buttons {
                    for a in thread.card.pending() {
                        let code = self
                            .inner
                            .outbox
                            .callback_code(id, &a.id, &a.incident_id, now_ms())
                            .await
                            .map_err(storage)?;
                        codes.insert(a.id.clone(), code);
                    }
                }
                let (html, keyboard) =
                    render::telegram_card(&thread.card, buttons, &|a: &ApprovalBrief| {
                        codes.get(&a.id).cloned()
                    });
                let root = thread
                    .root_ref
                    .as_deref()
                    .and_then(|r| r.parse::<i64>().ok());
                match root {
                    None => {
                        let message_id = tg.send(&html, Some(&keyboard), None).await?;
                        thread.root_ref = message_id.map(|m| m.to_string());
                        self.inner
                            .outbox
                            .save_thread(id, key, &thread, now_ms())
                            .await
                            .map_err(storage)?;
                    }
                    Some(root) => {
                        tg.edit(root, &html, &keyboard).await?;
                        self.inner
                            .outbox
                            .save_thread(id, key, &thread, now_ms())
                            .await
                            .map_err(storage)?;
                        if had_root {
                            for row in group.iter().filter(|r| r.event.kind.replies()) {
                                tg.send(&render::html(&row.event.text), None, Some(root))
                                    .await?;
                            }
                        }
                    }
                }
            }
            Client::Slack(slack) => {
                let (text, blocks) = render::slack_card(&thread.card, buttons);
                match thread.root_ref.clone() {
                    None => {
                        let ts = slack.post(&text, &blocks, None).await?;
                        thread.root_ref = Some(ts);
                        self.inner
                            .outbox
                            .save_thread(id, key, &thread, now_ms())
                            .await
                            .map_err(storage)?;
                    }
                    Some(ts) => {
                        slack.update(&ts, &text, &blocks).await?;
                        self.inner
                            .outbox
                            .save_thread(id, key, &thread, now_ms())
                            .await
                            .map_err(storage)?;
                        for row in group.iter().filter(|r| r.event.kind.replies()) {
                            slack.post(&row.event.text, &json!([]), Some(&ts)).await?;
                        }
                    }
                }
            }
            Client::Email(mail) => {
                let last = &group[group.len() - 1].event;
                let (subject, mut body) = render::email(last, &thread.card);
                if group.len() > 1 {
                    let earlier: Vec<String> = group[..group.len() - 1]
                        .iter()
                        .map(|r| format!("• {}", r.event.text))
                        .collect();
                    body = format!("{}\n{body}", earlier.join("\n"));
                }
                match thread.root_ref.clone() {
                    None => {
                        let root = mail.thread_id(key);
                        mail.send(&subject, &body, Some(root.clone()), None).await?;
                        thread.root_ref = Some(root);
                    }
                    Some(root) => {
                        let subject = if subject.starts_with("Re: ") {
                            subject
                        } else {
                            format!("Re: {subject}")
                        };
                        mail.send(&subject, &body, None, Some(&root)).await?;
                    }
                }
                self.inner
                    .outbox
                    .save_thread(id, key, &thread, now_ms())
                    .await
                    .map_err(storage)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The escalation step and the email digest, every 15 s.
    async fn periodic(&self) {
        loop {
            if let Err(error) = self.escalate().await {
                tracing::warn!(%error, "escalation step");
            }
            if let Err(error) = self.digests(false).await {
                tracing::warn!(%error, "email digest");
            }
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    }

    /// Tells the routes' `escalate_to` providers of approvals waiting past half their expiry.
    pub async fn escalate(&self) -> Result<usize, ChannelError> {
        let pending = match self.inner.operator.pending_approvals().await {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "cannot list approvals for the escalation step");
                return Ok(0);
            }
        };
        let now = now_ms();
        let providers: Vec<Provider> = self.inner.live.iter().map(|l| l.provider.clone()).collect();
        let mut sent = 0;
        for a in pending {
            let half = a.requested_ms + (a.expires_ms - a.requested_ms) / 2;
            if now < half || now >= a.expires_ms {
                continue;
            }
            let incident = self
                .inner
                .operator
                .incident(&a.incident_id)
                .await
                .ok()
                .flatten();
            let event = ChannelEvent::approval_escalated(a, incident, now);
            let ids = routing::escalation_targets(&self.inner.routes, &providers, &event);
            if !ids.is_empty() {
                self.publish_to(&ids, &event).await?;
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Sends the executive summary to every email provider's admins: those whose
    /// `digest_every` has passed, or all of them when `now` (`POST /api/v1/summary/email`).
    pub async fn digests(&self, now_asked: bool) -> Result<Vec<String>, ChannelError> {
        let mut sent = Vec::new();
        for l in &self.inner.live {
            let Client::Email(mail) = &l.client else {
                continue;
            };
            if !l.provider.enabled {
                continue;
            }
            let now = now_ms();
            let last: Option<i64> = self
                .inner
                .outbox
                .state(&l.provider.id, "digest_at")
                .await?
                .and_then(|v| v.parse().ok());
            let every = mail.digest_every.map(ms);
            let due = match (now_asked, every, last) {
                (true, _, _) => true,
                (false, Some(every), Some(last)) => now - last >= every,
                (false, Some(_), None) => {
                    // The first period starts now.
                    self.inner
                        .outbox
                        .set_state(&l.provider.id, "digest_at", &now.to_string())
                        .await?;
                    false
                }
                (false, None, _) => false,
            };
            if !due {
                continue;
            }
            let since = last.unwrap_or(now - every.unwrap_or(24 * 3_600_000));
            let summary =
                self.inner
                    .operator
                    .summary(since)
                    .await
                    .map_err(|e| ChannelError::Delivery {
                        id: l.provider.id.clone(),
                        source: DeliveryError::transient(e.to_string()),
                    })?;
            let (subject, body) = answer::summary(&summary);
            mail.send_digest(&subject, &body)
                .await
                .map_err(|source| ChannelError::Delivery {
                    id: l.provider.id.clone(),
                    source,
                })?;
            self.inner
                .outbox
                .set_state(&l.provider.id, "digest_at", &now.to_string())
                .await?;
            sent.push(l.provider.id.clone());
        }
        Ok(sent)
    }

    /// Runs one command for a caller: authorized first, then asked of the application.
    pub async fn command(&self, caller: &Caller, via: &ChatUser, line: &str) -> ChatAnswer {
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(error)
                if self.inner.operator.answers_questions()
                    && command::is_question(line, &error) =>
            {
                return self.question(caller, line).await;
            }
            Err(error) => {
                return ChatAnswer {
                    command: "none",
                    ok: false,
                    text: format!("{error}\n\n{HELP}"),
                };
            }
        };
        let name = command.name();
        if let Err(error) = app::authorize(caller, command.operation()) {
            return ChatAnswer {
                command: name,
                ok: false,
                text: format!("Refused: {error}."),
            };
        }
        let op = &self.inner.operator;
        let result: Result<String, OperatorError> = match &command {
            Command::Help => Ok(HELP.to_owned()),
            Command::Status => op.status(caller).await.map(|r| answer::status(&r)),
            Command::WhatHappened { incident: None } => op.recent(caller, 5).await.map(|l| answer::recent(&l)),
            Command::WhatHappened { incident: Some(id) } => op.story(caller, id).await.map(|s| answer::story(&s)),
            Command::ShowEvidence { incident } => op.evidence(caller, incident).await.map(|r| answer::evidence(&r)),
            Command::Why { verb, target } => op.why(caller, verb, target).await.map(|r| answer::why(&r)),
            Command::Approve { approval } => self.decide(caller, via, approval, None).await,
            Command::Reject { approval, reason } => {
                let reason = reason.clone().unwrap_or_else(|| format!("rejected by {}", via.describe()));
                self.decide(caller, via, approval, Some(reason)).await
            }
            Command::Pause => op
                .pause(caller, via)
                .await
                .map(|()| "Paused: no automatic action runs until someone says \"resume robot\". Approvals still work.".to_owned()),
            Command::Resume => op
                .resume(caller, via)
                .await
                .map(|()| "Resumed: automatic actions allowed by policy run again.".to_owned()),
            Command::Silence { incident, duration } => self.silence(caller, via, incident, *duration).await,
        };
        match result {
            Ok(text) => ChatAnswer {
                command: name,
                ok: true,
                text,
            },
            Err(error) => ChatAnswer {
                command: name,
                ok: false,
                text: refusal(&error),
            },
        }
    }

    /// A free-form question: answered by the model from an incident's draft, with its
    /// citations; read access is enough, and nothing is ever done.
    async fn question(&self, caller: &Caller, line: &str) -> ChatAnswer {
        let name = "question";
        if let Err(error) = app::authorize(caller, app::Operation::GetDraft) {
            return ChatAnswer {
                command: name,
                ok: false,
                text: format!("Refused: {error}."),
            };
        }
        match self.inner.operator.ask(caller, line).await {
            Ok(Some(answered)) => ChatAnswer {
                command: name,
                ok: true,
                text: answer::grounded(&answered),
            },
            Ok(None) => ChatAnswer {
                command: name,
                ok: false,
                text: format!("I answer questions only with a model configured.\n\n{HELP}"),
            },
            Err(error) => ChatAnswer {
                command: name,
                ok: false,
                text: refusal(&error),
            },
        }
    }

    /// Silences an incident: the application checks and records it, and its notices on every
    /// provider wait until the silence ends.
    async fn silence(
        &self,
        caller: &Caller,
        via: &ChatUser,
        incident: &str,
        duration: Duration,
    ) -> Result<String, OperatorError> {
        let text = self
            .inner
            .operator
            .silence(caller, incident, duration, via)
            .await?;
        let until = now_ms() + ms(duration);
        self.inner
            .outbox
            .set_state(SILENCE_SCOPE, incident, &until.to_string())
            .await
            .map_err(|e| OperatorError::Failed(e.to_string()))?;
        Ok(text)
    }

    /// Until when an incident's notices are held, if it is silenced now.
    async fn silenced_until(&self, thread: Option<&str>) -> Result<Option<i64>, ChannelError> {
        let Some(thread) = thread else {
            return Ok(None);
        };
        let until = self.inner.outbox.state(SILENCE_SCOPE, thread).await?;
        Ok(until
            .and_then(|u| u.parse::<i64>().ok())
            .filter(|&u| u > now_ms()))
    }

    /// Approves (reason `None`) or rejects, then tells every thread of the incident.
    async fn decide(
        &self,
        caller: &Caller,
        via: &ChatUser,
        approval: &str,
        reject_reason: Option<String>,
    ) -> Result<String, OperatorError> {
        let op = &self.inner.operator;
        let decided = match &reject_reason {
            None => op.approve(caller, approval, via).await?,
            Some(reason) => op.reject(caller, approval, reason, via).await?,
        };
        let incident = op.incident(&decided.incident_id).await.ok().flatten();
        let text = render::approval_line(&decided);
        let event = ChannelEvent::approval_decided(decided, incident, now_ms());
        if let Err(error) = self.publish(&event).await {
            tracing::warn!(%error, "cannot queue the decision for the channels");
        }
        Ok(text)
    }

    /// A chat request of `POST /api/v1/chat`: the caller is the bearer token's identity.
    pub async fn chat(&self, caller: &Caller, text: &str) -> ChatAnswer {
        let via = ChatUser {
            provider: "api".to_owned(),
            kind: ProviderKind::Custom,
            user_id: caller.name.clone(),
            display: None,
        };
        self.command(caller, &via, text).await
    }

    // ---- Telegram ----

    async fn poll_telegram(&self, live: Arc<Live>) {
        let (Client::Telegram(client), Settings::Telegram(settings)) =
            (&live.client, &live.provider.settings)
        else {
            return;
        };
        let id = live.provider.id.clone();
        let mut failures = 0u32;
        loop {
            let started = tokio::time::Instant::now();
            let offset = match self.inner.outbox.state(&id, "update_offset").await {
                Ok(v) => v.and_then(|v| v.parse::<i64>().ok()),
                Err(error) => {
                    tracing::warn!(provider = %id, %error, "cannot read the update offset");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            match client.updates(offset, settings.poll_timeout).await {
                Ok(updates) => {
                    failures = 0;
                    if let Err(error) = self.telegram_updates(&live, updates).await {
                        tracing::warn!(provider = %id, %error, "handling Telegram updates");
                    }
                }
                Err(error) => {
                    failures += 1;
                    let pause = self.inner.backoff.delay(
                        failures,
                        error.retry_after,
                        rand::random::<f64>(),
                    );
                    tracing::warn!(provider = %id, error = %error.reason, retry_in_ms = ms(pause), "getUpdates failed");
                    tokio::time::sleep(pause).await;
                }
            }
            // A server that answers at once (no long poll) is not hammered.
            let elapsed = started.elapsed();
            if elapsed < settings.poll_interval {
                tokio::time::sleep(settings.poll_interval - elapsed).await;
            }
        }
    }

    /// Handles updates in order, skipping any already handled (the stored offset), and
    /// stores the next offset after each.
    async fn telegram_updates(
        &self,
        live: &Live,
        mut updates: Vec<Update>,
    ) -> Result<(), ChannelError> {
        let id = &live.provider.id;
        updates.sort_by_key(Update::update_id);
        for update in updates {
            let offset: Option<i64> = self
                .inner
                .outbox
                .state(id, "update_offset")
                .await?
                .and_then(|v| v.parse().ok());
            if offset.is_some_and(|o| update.update_id() < o) {
                continue;
            }
            // Stored first: an update that made us crash is not handled twice.
            self.inner
                .outbox
                .set_state(id, "update_offset", &(update.update_id() + 1).to_string())
                .await?;
            self.telegram_update(live, update).await;
        }
        Ok(())
    }

    /// An update Telegram posted to the webhook, after its secret header is checked.
    pub async fn telegram_webhook(
        &self,
        id: &str,
        secret: Option<&str>,
        body: &[u8],
    ) -> Result<(), ChannelError> {
        let live = Arc::clone(self.live(id)?);
        let Settings::Telegram(settings) = &live.provider.settings else {
            return Err(ChannelError::BadRequest {
                reason: format!("provider {id:?} is not a Telegram provider"),
            });
        };
        if settings.mode != TelegramMode::Webhook {
            return Err(ChannelError::BadRequest {
                reason: format!("provider {id:?} polls for updates; its webhook is off"),
            });
        }
        let configured = settings
            .webhook_secret
            .as_ref()
            .ok_or(ChannelError::Unauthenticated {
                reason: "no webhook secret configured",
            })?;
        if !signature::telegram_secret_ok(configured.expose(), secret) {
            return Err(ChannelError::Unauthenticated {
                reason: "X-Telegram-Bot-Api-Secret-Token does not match",
            });
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| ChannelError::BadRequest {
            reason: "the body is not a JSON Update".to_owned(),
        })?;
        let update = crate::providers::telegram::parse_update(&value).ok_or_else(|| {
            ChannelError::BadRequest {
                reason: "the Update has no update_id".to_owned(),
            }
        })?;
        // Answered at once; the update is handled in the background, in order of arrival.
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(error) = me.telegram_updates(&live, vec![update]).await {
                tracing::warn!(%error, "handling a Telegram webhook update");
            }
        });
        Ok(())
    }

    async fn telegram_update(&self, live: &Live, update: Update) {
        let Client::Telegram(tg) = &live.client else {
            return;
        };
        let id = &live.provider.id;
        match update {
            Update::Other { .. } => {}
            Update::Message {
                chat_id,
                chat_username,
                message_id,
                from_id,
                from_name,
                text,
                ..
            } => {
                if !tg.chat.is(chat_id, chat_username.as_deref()) {
                    tracing::info!(provider = %id, "message from another chat ignored");
                    return;
                }
                // Conversation is never a command: only what parses, what starts with `/`,
                // or (with a model) a question, which is answered and never acted on.
                let parsed = command::parse(&text);
                let question =
                    text.trim_end().ends_with('?') && self.inner.operator.answers_questions();
                if parsed.is_err() && !text.trim_start().starts_with('/') && !question {
                    return;
                }
                let reply = match from_id {
                    None => "I cannot tell who sent that; nothing was done.".to_owned(),
                    Some(user) => {
                        let via = ChatUser {
                            provider: id.clone(),
                            kind: ProviderKind::Telegram,
                            user_id: user.to_string(),
                            display: from_name,
                        };
                        let caller = self
                            .inner
                            .directory
                            .read()
                            .caller(ProviderKind::Telegram, &via.user_id);
                        match caller {
                            None => format!(
                                "You ({}) are not mapped to an operator, so nothing was done. An admin can add telegram_user_id = {user} to your entry in the approvers or tokens file.",
                                via.describe()
                            ),
                            Some(caller) => self.command(&caller, &via, &text).await.text,
                        }
                    }
                };
                if let Err(error) = tg.send(&render::html(&reply), None, message_id).await {
                    tracing::warn!(provider = %id, error = %error.reason, "cannot answer a command");
                }
            }
            Update::Callback {
                id: callback,
                from_id,
                from_name,
                chat_id,
                chat_username,
                data,
                ..
            } => {
                let (text, alert) = self
                    .telegram_callback(
                        live,
                        from_id,
                        from_name,
                        chat_id,
                        chat_username.as_deref(),
                        &data,
                    )
                    .await;
                // Always answered, so the client stops waiting; refusals as a pop-up.
                if let Err(error) = tg.answer_callback(&callback, &text, alert).await {
                    tracing::warn!(provider = %id, error = %error.reason, "answerCallbackQuery failed");
                }
            }
        }
    }

    /// A button press: what to answer, and whether as a pop-up.
    async fn telegram_callback(
        &self,
        live: &Live,
        from_id: Option<i64>,
        from_name: Option<String>,
        chat_id: Option<i64>,
        chat_username: Option<&str>,
        data: &str,
    ) -> (String, bool) {
        let Client::Telegram(tg) = &live.client else {
            return (String::new(), false);
        };
        let id = &live.provider.id;
        if !tg.chat.is(chat_id, chat_username) {
            return (
                "This button is not from this bot's chat; nothing was done.".to_owned(),
                true,
            );
        }
        let Some((verb, code)) = data.split_once(':') else {
            return ("Unknown button; nothing was done.".to_owned(), true);
        };
        let (approval, incident) = match self.inner.outbox.resolve_code(id, code).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return (
                    "This button has expired; nothing was done.".to_owned(),
                    true,
                );
            }
            Err(error) => {
                tracing::warn!(provider = %id, %error, "cannot resolve a callback code");
                return (
                    "Something failed on our side; nothing was done. Try again.".to_owned(),
                    true,
                );
            }
        };
        let Some(user) = from_id else {
            return (
                "I cannot tell who pressed that; nothing was done.".to_owned(),
                true,
            );
        };
        let via = ChatUser {
            provider: id.clone(),
            kind: ProviderKind::Telegram,
            user_id: user.to_string(),
            display: from_name,
        };
        let caller = self
            .inner
            .directory
            .read()
            .caller(ProviderKind::Telegram, &via.user_id);
        let Some(caller) = caller else {
            return (
                format!(
                    "You ({}) are not mapped to an operator; nothing was done.",
                    via.describe()
                ),
                true,
            );
        };
        self.button(live, &caller, &via, verb, &approval, &incident)
            .await
    }

    /// A button of any provider: approve, reject, evidence or silence (`a`, `r`, `e`, `s`).
    async fn button(
        &self,
        live: &Live,
        caller: &Caller,
        via: &ChatUser,
        verb: &str,
        approval: &str,
        incident: &str,
    ) -> (String, bool) {
        if !live.provider.approvals && matches!(verb, "a" | "r") {
            return (
                "This channel may not carry approvals; nothing was done.".to_owned(),
                true,
            );
        }
        let operation = match verb {
            "a" => Operation::Approve,
            "r" => Operation::Reject,
            "e" => Operation::GetIncident,
            "s" => Operation::Silence,
            _ => return ("Unknown button; nothing was done.".to_owned(), true),
        };
        if let Err(error) = app::authorize(caller, operation) {
            return (format!("Refused: {error}. Nothing was done."), true);
        }
        let result = match verb {
            "a" => self.decide(caller, via, approval, None).await,
            "r" => {
                let reason = format!("rejected by {}", via.describe());
                self.decide(caller, via, approval, Some(reason)).await
            }
            "e" => {
                let result = self.inner.operator.evidence(caller, incident).await;
                match result {
                    Ok(report) => {
                        self.reply_in_thread(live, incident, &answer::evidence(&report))
                            .await;
                        Ok("Evidence posted in the thread.".to_owned())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                self.silence(caller, via, incident, Duration::from_secs(3600))
                    .await
            }
        };
        match result {
            Ok(text) => (text, false),
            Err(error) => (refusal(&error), true),
        }
    }

    /// Posts `text` as a reply in an incident's thread on one provider (evidence answers).
    async fn reply_in_thread(&self, live: &Live, incident: &str, text: &str) {
        let thread = self
            .inner
            .outbox
            .thread(&live.provider.id, incident)
            .await
            .ok();
        let root = thread.as_ref().and_then(|t| t.root_ref.clone());
        let result = match &live.client {
            Client::Telegram(tg) => tg
                .send(&render::html(text), None, root.and_then(|r| r.parse().ok()))
                .await
                .map(|_| ()),
            Client::Slack(slack) => slack
                .post(text, &json!([]), root.as_deref())
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(provider = %live.provider.id, error = %error.reason, "cannot reply in thread");
        }
    }

    // ---- Slack ----

    fn slack_live(&self, id: &str) -> Result<(Arc<Live>, String), ChannelError> {
        let live = Arc::clone(self.live(id)?);
        let Settings::Slack(settings) = &live.provider.settings else {
            return Err(ChannelError::BadRequest {
                reason: format!("provider {id:?} is not a Slack provider"),
            });
        };
        let secret = settings
            .signing_secret
            .as_ref()
            .ok_or(ChannelError::Unauthenticated {
                reason: "no signing secret configured for this Slack provider",
            })?
            .expose()
            .to_owned();
        Ok((live, secret))
    }

    /// A Slack interaction (a button press), verified by its signature; answered at once,
    /// the outcome posted to its `response_url`.
    pub async fn slack_interaction(
        &self,
        id: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), ChannelError> {
        let (live, secret) = self.slack_live(id)?;
        signature::slack_verify(&secret, timestamp, signature, body, now_ms() / 1000)?;
        let interaction = slack::parse_interaction(body)?;
        let me = self.clone();
        tokio::spawn(async move {
            let via = ChatUser {
                provider: live.provider.id.clone(),
                kind: ProviderKind::Slack,
                user_id: interaction.user_id.clone(),
                display: interaction.user_name.clone(),
            };
            let caller = me
                .inner
                .directory
                .read()
                .caller(ProviderKind::Slack, &via.user_id);
            let text = match caller {
                None => format!(
                    "You ({}) are not mapped to an operator; nothing was done.",
                    via.describe()
                ),
                Some(caller) => {
                    let verb = match interaction.action.as_str() {
                        "approve" => "a",
                        "reject" => "r",
                        "evidence" => "e",
                        "silence" => "s",
                        _ => "?",
                    };
                    let (approval, incident) = match verb {
                        "a" | "r" => {
                            let incident = me
                                .inner
                                .operator
                                .approval(&interaction.value)
                                .await
                                .ok()
                                .flatten()
                                .map(|a| a.incident_id)
                                .unwrap_or_default();
                            (interaction.value.clone(), incident)
                        }
                        _ => (String::new(), interaction.value.clone()),
                    };
                    me.button(&live, &caller, &via, verb, &approval, &incident)
                        .await
                        .0
                }
            };
            if let (Some(url), Client::Slack(client)) = (&interaction.response_url, &live.client)
                && let Err(error) = client.respond(url, &text).await
            {
                tracing::warn!(error = %error.reason, "cannot answer a Slack interaction");
            }
        });
        Ok(())
    }

    /// A Slack slash command, verified by its signature; answered inline when done within
    /// 2.5 s (Slack waits 3), else acknowledged and answered on its `response_url`.
    pub async fn slack_command(
        &self,
        id: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Value, ChannelError> {
        let (live, secret) = self.slack_live(id)?;
        signature::slack_verify(&secret, timestamp, signature, body, now_ms() / 1000)?;
        let command = slack::parse_command(body)?;
        let via = ChatUser {
            provider: live.provider.id.clone(),
            kind: ProviderKind::Slack,
            user_id: command.user_id.clone(),
            display: command.user_name.clone(),
        };
        let caller = self
            .inner
            .directory
            .read()
            .caller(ProviderKind::Slack, &via.user_id);
        let Some(caller) = caller else {
            return Ok(json!({"response_type": "ephemeral", "text": format!(
                "You ({}) are not mapped to an operator, so nothing was done. An admin can add slack_user_id = \"{}\" to your entry.",
                via.describe(), command.user_id)}));
        };
        let me = self.clone();
        let text = command.text.clone();
        let mut task = tokio::spawn(async move { me.command(&caller, &via, &text).await });
        match tokio::time::timeout(Duration::from_millis(2_500), &mut task).await {
            Ok(Ok(answer)) => Ok(json!({"response_type": "ephemeral", "text": answer.text})),
            Ok(Err(_)) => Ok(
                json!({"response_type": "ephemeral", "text": "That failed on our side; try again."}),
            ),
            Err(_) => {
                let response_url = command.response_url.clone();
                tokio::spawn(async move {
                    if let (Ok(answer), Some(url), Client::Slack(client)) =
                        (task.await, response_url, &live.client)
                        && let Err(error) = client.respond(&url, &answer.text).await
                    {
                        tracing::warn!(error = %error.reason, "cannot answer a Slack command late");
                    }
                });
                Ok(json!({"response_type": "ephemeral", "text": "Working on it…"}))
            }
        }
    }
}
