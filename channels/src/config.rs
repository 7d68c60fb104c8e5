//! `[channels]` of the main config and each provider's own file: parsed, validated and loaded
//! with its secrets at start, every refusal naming the key (`channels.provider[ops-telegram]…`).
//!
//! Secrets never sit in the main config: a provider's `config` names a file (relative to the
//! main config file's folder) whose `*_file` keys name the secret files, mode 0600.

use crate::error::ChannelError;
pub use app::config::{ChannelsConfig, ProviderConfig, QuietHours, RouteConfig};
use model::Severity;
use model::duration::text as duration_text;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The provider kinds of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    InApp,
    Email,
    Webhook,
    Slack,
    Teams,
    Telegram,
    WhatsApp,
    Custom,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Opsgenie's Alert API.
    Opsgenie,
    /// Alertmanager's `POST /api/v2/alerts`, so the team's own routing pages.
    Alertmanager,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 11] = [
        ProviderKind::InApp,
        ProviderKind::Email,
        ProviderKind::Webhook,
        ProviderKind::Slack,
        ProviderKind::Teams,
        ProviderKind::Telegram,
        ProviderKind::WhatsApp,
        ProviderKind::Custom,
        ProviderKind::PagerDuty,
        ProviderKind::Opsgenie,
        ProviderKind::Alertmanager,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::InApp => "in_app",
            ProviderKind::Email => "email",
            ProviderKind::Webhook => "webhook",
            ProviderKind::Slack => "slack",
            ProviderKind::Teams => "teams",
            ProviderKind::Telegram => "telegram",
            ProviderKind::WhatsApp => "whatsapp",
            ProviderKind::Custom => "custom",
            ProviderKind::PagerDuty => "pagerduty",
            ProviderKind::Opsgenie => "opsgenie",
            ProviderKind::Alertmanager => "alertmanager",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether messages of this kind can be delivered today.
    pub fn deliverable(self) -> bool {
        self != ProviderKind::WhatsApp
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret read from a file; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How Telegram updates reach the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TelegramMode {
    /// `getUpdates` long polling (the default: no inbound route needed).
    Poll,
    /// Telegram posts updates to `POST /api/v1/channels/{id}/telegram`.
    Webhook,
}

/// A Telegram chat: a numeric id or a `@channelusername`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Name(String),
}

impl ChatId {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ChatId::Id(id) => serde_json::json!(id),
            ChatId::Name(name) => serde_json::json!(name),
        }
    }

    /// Whether an update's chat (`message.chat.id`) is this chat.
    pub fn is(&self, id: Option<i64>, username: Option<&str>) -> bool {
        match self {
            ChatId::Id(want) => id == Some(*want),
            ChatId::Name(name) => {
                username.is_some_and(|u| name.trim_start_matches('@') == u.trim_start_matches('@'))
            }
        }
    }
}

/// `channels/telegram.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelegramFile {
    bot_token_file: PathBuf,
    chat_id: ChatId,
    #[serde(default = "telegram_api")]
    api_url: String,
    #[serde(default = "poll")]
    mode: TelegramMode,
    #[serde(default)]
    webhook_secret_file: Option<PathBuf>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default = "poll_timeout", with = "duration_text")]
    poll_timeout: Duration,
    #[serde(default = "poll_interval", with = "duration_text")]
    poll_interval: Duration,
    #[serde(default)]
    tls_config: outbound::TlsConfig,
}

fn telegram_api() -> String {
    "https://api.telegram.org".to_owned()
}
fn poll() -> TelegramMode {
    TelegramMode::Poll
}
fn poll_timeout() -> Duration {
    Duration::from_secs(25)
}
fn poll_interval() -> Duration {
    Duration::from_secs(1)
}

/// A loaded Telegram provider.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub bot_token: Secret,
    pub chat_id: ChatId,
    pub api_url: String,
    pub mode: TelegramMode,
    /// Compared with `X-Telegram-Bot-Api-Secret-Token` on the webhook (and given to
    /// `setWebhook` as `secret_token`).
    pub webhook_secret: Option<Secret>,
    /// The public URL of `POST /api/v1/channels/{id}/telegram`, given to `setWebhook` at
    /// start (webhook mode); unset, the webhook is set outside srebot.
    pub webhook_url: Option<String>,
    /// `getUpdates` `timeout`: how long Telegram holds a poll open.
    pub poll_timeout: Duration,
    /// Least time between two polls (a server that answers at once is not hammered).
    pub poll_interval: Duration,
    pub tls: outbound::TlsConfig,
}

/// `channels/slack.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackFile {
    #[serde(default)]
    webhook_url_file: Option<PathBuf>,
    #[serde(default)]
    bot_token_file: Option<PathBuf>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    signing_secret_file: Option<PathBuf>,
    #[serde(default = "slack_api")]
    api_url: String,
    #[serde(default)]
    tls_config: outbound::TlsConfig,
}

fn slack_api() -> String {
    "https://slack.com/api".to_owned()
}

/// How a Slack provider posts.
#[derive(Debug, Clone)]
pub enum SlackMode {
    /// An incoming webhook: one message per event, no buttons, no edits.
    Webhook { url: Secret },
    /// The Web API with a bot token: one thread per incident (`chat.postMessage`,
    /// `chat.update`, replies with `thread_ts`) and Block Kit buttons.
    App {
        bot_token: Secret,
        channel: String,
        api_url: String,
    },
}

/// A loaded Slack provider.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub mode: SlackMode,
    /// Verifies `X-Slack-Signature` on interactions and slash commands.
    pub signing_secret: Option<Secret>,
    pub tls: outbound::TlsConfig,
}

/// `channels/teams.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamsFile {
    webhook_url_file: PathBuf,
    #[serde(default)]
    tls_config: outbound::TlsConfig,
}

/// A loaded Teams provider (a Workflows webhook).
#[derive(Debug, Clone)]
pub struct TeamsSettings {
    pub webhook_url: Secret,
    pub tls: outbound::TlsConfig,
}

/// `channels/pagerduty.toml`, `channels/opsgenie.toml`, `channels/alertmanager.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PagingFile {
    /// PagerDuty: `https://events.pagerduty.com`; Opsgenie: `https://api.opsgenie.com` (EU:
    /// `https://api.eu.opsgenie.com`); Alertmanager: its base URL, required.
    #[serde(default)]
    url: Option<String>,
    /// PagerDuty: the integration's routing key.
    #[serde(default)]
    routing_key_file: Option<PathBuf>,
    /// Opsgenie: an API integration's key.
    #[serde(default)]
    api_key_file: Option<PathBuf>,
    /// Alertmanager: a bearer token, when a proxy in front of it asks for one.
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    tls_config: outbound::TlsConfig,
}

/// Which paging service a paging provider hands incidents to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingService {
    PagerDuty,
    Opsgenie,
    Alertmanager,
}

/// A loaded paging provider.
#[derive(Debug, Clone)]
pub struct PagingSettings {
    pub service: PagingService,
    pub url: String,
    /// Routing key, API key or bearer token.
    pub secret: Option<Secret>,
    pub tls: outbound::TlsConfig,
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only to a loopback server.
    None,
}

/// `channels/email.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailFile {
    smtp_host: String,
    #[serde(default)]
    smtp_port: Option<u16>,
    #[serde(default = "starttls")]
    security: SmtpSecurity,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    digest_to: Vec<String>,
    #[serde(default, with = "opt_duration")]
    digest_every: Option<Duration>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
}

fn starttls() -> SmtpSecurity {
    SmtpSecurity::Starttls
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| model::duration::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A loaded email provider.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: SmtpSecurity,
    /// User name and password for SMTP AUTH (both or neither).
    pub credentials: Option<(String, Secret)>,
    pub from: String,
    /// Who gets incident mail.
    pub to: Vec<String>,
    /// Who gets the executive summary digest (the admins); `to` when empty.
    pub digest_to: Vec<String>,
    /// How often the digest goes out on its own; never when unset.
    pub digest_every: Option<Duration>,
    pub ca_file: Option<PathBuf>,
}

/// `channels/webhook.toml` (kinds `webhook` and `custom`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    secret_file: PathBuf,
    #[serde(default)]
    tls_config: outbound::TlsConfig,
}

/// A loaded webhook provider: JSON of the documented schema, signed with HMAC-SHA256.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub secret: Secret,
    pub tls: outbound::TlsConfig,
}

/// What a provider needs to deliver, by kind.
#[derive(Debug, Clone)]
pub enum Settings {
    InApp,
    Email(EmailSettings),
    Webhook(WebhookSettings),
    Slack(SlackSettings),
    Teams(TeamsSettings),
    Telegram(TelegramSettings),
    Paging(PagingSettings),
    /// The contract only: accepted, listed, not delivered.
    WhatsApp,
}

/// A provider as loaded at start: the contract's fields and its settings.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub kind: ProviderKind,
    pub display_name: String,
    pub enabled: bool,
    pub approvals: bool,
    pub settings: Settings,
}

impl Provider {
    /// `policy.notify_webhook` as a provider of kind `slack` (incoming webhook, one message
    /// per event, no approvals).
    pub fn notify_webhook(url: &str, tls: &outbound::TlsConfig) -> Result<Self, ChannelError> {
        outbound::check_url(url).map_err(|source| ChannelError::Client {
            key: "policy.notify_webhook".to_owned(),
            source,
        })?;
        Ok(Provider {
            id: NOTIFY_WEBHOOK_ID.to_owned(),
            kind: ProviderKind::Slack,
            display_name: "policy.notify_webhook".to_owned(),
            enabled: true,
            approvals: false,
            settings: Settings::Slack(SlackSettings {
                mode: SlackMode::Webhook {
                    url: Secret::new(url),
                },
                signing_secret: None,
                tls: tls.clone(),
            }),
        })
    }
}

/// The id `policy.notify_webhook` gets as a provider.
pub const NOTIFY_WEBHOOK_ID: &str = "notify-webhook";

/// Quiet hours, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiet {
    /// Minutes after local midnight.
    pub start_min: u32,
    pub end_min: u32,
    /// Local time minus UTC, in minutes.
    pub offset_min: i32,
    pub allow: Severity,
}

/// A route, parsed.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub providers: Vec<String>,
    pub severity: Vec<Severity>,
    pub domain: Vec<String>,
    pub incident_type: Vec<String>,
    pub source: Vec<String>,
    pub environment: Vec<String>,
    pub quiet: Option<Quiet>,
    pub escalate_to: Vec<String>,
}

/// Everything `[channels]` says, loaded and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub providers: Vec<Provider>,
    pub routes: Vec<Route>,
    pub failure_incident_after: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
}

/// Checks every provider and route of `[channels]` and reads every provider file and secret
/// (paths relative to `config.base_dir`, the main config file's folder). Unknown kinds,
/// missing files and empty secrets are refused with the key that names them.
pub fn load(config: &ChannelsConfig) -> Result<Loaded, ChannelError> {
    let base = config.base_dir.as_path();
    let mut providers: Vec<Provider> = Vec::new();
    for (i, p) in config.provider.iter().enumerate() {
        let at = format!("channels.provider[{i}]");
        let id = p.id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ChannelError::config(
                format!("{at}.id"),
                format!("{:?} must be letters, digits, - or _", p.id),
            ));
        }
        if id == NOTIFY_WEBHOOK_ID || providers.iter().any(|q| q.id == id) {
            return Err(ChannelError::config(
                format!("{at}.id"),
                format!("{id:?} is used twice (or reserved for policy.notify_webhook)"),
            ));
        }
        let at = format!("channels.provider[{id}]");
        let kind = ProviderKind::from_name(&p.kind).ok_or_else(|| {
            let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
            ChannelError::config(
                format!("{at}.kind"),
                format!("unknown kind {:?}; one of {}", p.kind, known.join(", ")),
            )
        })?;
        let settings = load_settings(kind, p.config.as_deref(), base, &at)?;
        providers.push(Provider {
            id: id.to_owned(),
            kind,
            display_name: if p.display_name.trim().is_empty() {
                id.to_owned()
            } else {
                p.display_name.clone()
            },
            enabled: p.enabled,
            approvals: p.approvals,
            settings,
        });
    }
    let known = |key: String, id: &str| {
        if providers.iter().any(|p| p.id == id) {
            Ok(())
        } else {
            Err(ChannelError::config(key, format!("no provider {id:?}")))
        }
    };
    let mut routes = Vec::new();
    for (i, r) in config.route.iter().enumerate() {
        let at = format!("channels.route[{i}]");
        if r.providers.is_empty() {
            return Err(ChannelError::config(
                format!("{at}.providers"),
                "name at least one provider",
            ));
        }
        for id in r.providers.iter().chain(&r.escalate_to) {
            known(format!("{at}.providers"), id)?;
        }
        let severity = r
            .severity
            .iter()
            .map(|s| {
                severity_of(s).ok_or_else(|| {
                    ChannelError::config(
                        format!("{at}.severity"),
                        format!("unknown severity {s:?}; one of info, warning, critical"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for d in &r.domain {
            if !model::IncidentType::ALL
                .iter()
                .any(|t| t.domain().as_str() == d)
            {
                return Err(ChannelError::config(
                    format!("{at}.domain"),
                    format!("unknown domain {d:?}"),
                ));
            }
        }
        for t in &r.incident_type {
            if model::IncidentType::from_name(t).is_none() {
                return Err(ChannelError::config(
                    format!("{at}.type"),
                    format!("unknown incident type {t:?}"),
                ));
            }
        }
        for s in &r.source {
            if model::Origin::from_name(s).is_none() {
                return Err(ChannelError::config(
                    format!("{at}.source"),
                    format!("unknown source {s:?}"),
                ));
            }
        }
        let quiet = r
            .quiet_hours
            .as_ref()
            .map(|q| parse_quiet(q, &format!("{at}.quiet_hours")))
            .transpose()?;
        routes.push(Route {
            providers: r.providers.clone(),
            severity,
            domain: r.domain.clone(),
            incident_type: r.incident_type.clone(),
            source: r.source.clone(),
            environment: r.environment.clone(),
            quiet,
            escalate_to: r.escalate_to.clone(),
        });
    }
    if config.retry_initial.is_zero() || config.retry_max < config.retry_initial {
        return Err(ChannelError::config(
            "channels.retry_initial",
            "must be above 0 and at most channels.retry_max",
        ));
    }
    if config.failure_incident_after.is_zero() {
        return Err(ChannelError::config(
            "channels.failure_incident_after",
            "must be above 0",
        ));
    }
    Ok(Loaded {
        providers,
        routes,
        failure_incident_after: config.failure_incident_after,
        retry_initial: config.retry_initial,
        retry_max: config.retry_max,
        give_up_after: config.give_up_after,
    })
}

fn severity_of(name: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|s| s.as_str() == name)
}

fn hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn parse_quiet(q: &QuietHours, at: &str) -> Result<Quiet, ChannelError> {
    let bad = |key: &str, what: &str| ChannelError::config(format!("{at}.{key}"), what.to_owned());
    let start_min = hhmm(&q.start).ok_or_else(|| bad("start", "give HH:MM"))?;
    let end_min = hhmm(&q.end).ok_or_else(|| bad("end", "give HH:MM"))?;
    let offset = q.utc_offset.trim();
    let (sign, rest) = match offset.chars().next() {
        Some('+') => (1, &offset[1..]),
        Some('-') => (-1, &offset[1..]),
        _ => return Err(bad("utc_offset", "give +HH:MM or -HH:MM")),
    };
    let minutes = hhmm(rest).ok_or_else(|| bad("utc_offset", "give +HH:MM or -HH:MM"))?;
    let allow =
        severity_of(&q.allow).ok_or_else(|| bad("allow", "one of info, warning, critical"))?;
    Ok(Quiet {
        start_min,
        end_min,
        offset_min: sign * i32::try_from(minutes).unwrap_or(0),
        allow,
    })
}

/// Reads a provider's own file and its secrets.
fn load_settings(
    kind: ProviderKind,
    file: Option<&Path>,
    base: &Path,
    at: &str,
) -> Result<Settings, ChannelError> {
    let needs_file = !matches!(kind, ProviderKind::InApp | ProviderKind::WhatsApp);
    let Some(file) = file else {
        if needs_file {
            return Err(ChannelError::config(
                format!("{at}.config"),
                format!("a {kind} provider needs a config file with its endpoint and secrets"),
            ));
        }
        return Ok(match kind {
            ProviderKind::WhatsApp => Settings::WhatsApp,
            _ => Settings::InApp,
        });
    };
    let path = base.join(file);
    let key = format!("{at}.config");
    if !needs_file {
        // The contract only: the file must exist, its contents are not used yet.
        std::fs::metadata(&path).map_err(|source| ChannelError::ConfigFile {
            key,
            path: path.clone(),
            source,
        })?;
        return Ok(match kind {
            ProviderKind::WhatsApp => Settings::WhatsApp,
            _ => Settings::InApp,
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ChannelError::ConfigFile {
        key: key.clone(),
        path: path.clone(),
        source,
    })?;
    let folder = path.parent().unwrap_or(base).to_owned();
    let parse_err = |e: toml::de::Error| {
        ChannelError::config(key.clone(), format!("{}: {}", path.display(), e.message()))
    };
    let in_file = |k: &str| format!("{at}.config ({}) {k}", path.display());
    let secret = |k: &str, p: &Path| read_secret(&in_file(k), &folder.join(p));
    let url_ok = |k: &str, url: &str| {
        outbound::check_url(url)
            .map(|_| ())
            .map_err(|source| ChannelError::Client {
                key: in_file(k),
                source,
            })
    };
    Ok(match kind {
        ProviderKind::Telegram => {
            let f: TelegramFile = toml::from_str(&text).map_err(parse_err)?;
            url_ok("api_url", &f.api_url)?;
            let webhook_secret = f
                .webhook_secret_file
                .as_deref()
                .map(|p| secret("webhook_secret_file", p))
                .transpose()?;
            if let Some(s) = &webhook_secret {
                let ok = s.expose().len() <= 256
                    && s.expose()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(ChannelError::config(
                        in_file("webhook_secret_file"),
                        "Telegram's secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -",
                    ));
                }
            }
            if f.mode == TelegramMode::Webhook && webhook_secret.is_none() {
                return Err(ChannelError::config(
                    in_file("webhook_secret_file"),
                    "webhook mode needs a secret: Telegram sends it back on every update, which is how srebot knows an update is Telegram's",
                ));
            }
            if let Some(url) = &f.webhook_url {
                url_ok("webhook_url", url)?;
            }
            Settings::Telegram(TelegramSettings {
                bot_token: secret("bot_token_file", &f.bot_token_file)?,
                webhook_url: f.webhook_url,
                chat_id: f.chat_id,
                api_url: f.api_url.trim_end_matches('/').to_owned(),
                mode: f.mode,
                webhook_secret,
                poll_timeout: f.poll_timeout,
                poll_interval: f.poll_interval,
                tls: with_folder(f.tls_config, &folder),
            })
        }
        ProviderKind::Slack => {
            let f: SlackFile = toml::from_str(&text).map_err(parse_err)?;
            let mode = match (&f.webhook_url_file, &f.bot_token_file) {
                (Some(p), None) => {
                    let url = secret("webhook_url_file", p)?;
                    url_ok("webhook_url_file", url.expose())?;
                    SlackMode::Webhook { url }
                }
                (None, Some(p)) => {
                    url_ok("api_url", &f.api_url)?;
                    let channel = f
                        .channel
                        .clone()
                        .filter(|c| !c.trim().is_empty())
                        .ok_or_else(|| {
                            ChannelError::config(
                                in_file("channel"),
                                "app mode needs the channel id to post in",
                            )
                        })?;
                    SlackMode::App {
                        bot_token: secret("bot_token_file", p)?,
                        channel,
                        api_url: f.api_url.trim_end_matches('/').to_owned(),
                    }
                }
                _ => {
                    return Err(ChannelError::config(
                        in_file("webhook_url_file"),
                        "give exactly one of webhook_url_file (incoming webhook) or bot_token_file (app mode)",
                    ));
                }
            };
            Settings::Slack(SlackSettings {
                mode,
                signing_secret: f
                    .signing_secret_file
                    .as_deref()
                    .map(|p| secret("signing_secret_file", p))
                    .transpose()?,
                tls: with_folder(f.tls_config, &folder),
            })
        }
        ProviderKind::Teams => {
            let f: TeamsFile = toml::from_str(&text).map_err(parse_err)?;
            let url = secret("webhook_url_file", &f.webhook_url_file)?;
            url_ok("webhook_url_file", url.expose())?;
            Settings::Teams(TeamsSettings {
                webhook_url: url,
                tls: with_folder(f.tls_config, &folder),
            })
        }
        ProviderKind::Email => {
            let f: EmailFile = toml::from_str(&text).map_err(parse_err)?;
            if f.smtp_host.trim().is_empty() {
                return Err(ChannelError::config(
                    in_file("smtp_host"),
                    "must not be empty",
                ));
            }
            if f.security == SmtpSecurity::None && !is_loopback(&f.smtp_host) {
                return Err(ChannelError::config(
                    in_file("security"),
                    "\"none\" (no TLS) is allowed only to a loopback SMTP server",
                ));
            }
            let credentials = match (&f.username, &f.password_file) {
                (Some(user), Some(p)) => Some((user.clone(), secret("password_file", p)?)),
                (None, None) => None,
                _ => {
                    return Err(ChannelError::config(
                        in_file("password_file"),
                        "SMTP AUTH needs both username and password_file",
                    ));
                }
            };
            for (k, list) in [("to", &f.to), ("digest_to", &f.digest_to)] {
                for addr in list {
                    addr.parse::<lettre::message::Mailbox>()
                        .map_err(|e| ChannelError::config(in_file(k), format!("{addr:?}: {e}")))?;
                }
            }
            f.from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| ChannelError::config(in_file("from"), format!("{:?}: {e}", f.from)))?;
            if f.to.is_empty() && f.digest_to.is_empty() {
                return Err(ChannelError::config(
                    in_file("to"),
                    "name at least one recipient",
                ));
            }
            Settings::Email(EmailSettings {
                smtp_port: f.smtp_port.unwrap_or(match f.security {
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::None => 25,
                }),
                smtp_host: f.smtp_host,
                security: f.security,
                credentials,
                from: f.from,
                to: f.to,
                digest_to: f.digest_to,
                digest_every: f.digest_every,
                ca_file: f.ca_file.map(|p| folder.join(p)),
            })
        }
        ProviderKind::Webhook | ProviderKind::Custom => {
            let f: WebhookFile = toml::from_str(&text).map_err(parse_err)?;
            url_ok("url", &f.url)?;
            Settings::Webhook(WebhookSettings {
                url: f.url,
                secret: secret("secret_file", &f.secret_file)?,
                tls: with_folder(f.tls_config, &folder),
            })
        }
        ProviderKind::PagerDuty | ProviderKind::Opsgenie | ProviderKind::Alertmanager => {
            let f: PagingFile = toml::from_str(&text).map_err(parse_err)?;
            let (service, default_url, secret_key, secret_file) = match kind {
                ProviderKind::PagerDuty => (
                    PagingService::PagerDuty,
                    Some("https://events.pagerduty.com"),
                    "routing_key_file",
                    &f.routing_key_file,
                ),
                ProviderKind::Opsgenie => (
                    PagingService::Opsgenie,
                    Some("https://api.opsgenie.com"),
                    "api_key_file",
                    &f.api_key_file,
                ),
                _ => (
                    PagingService::Alertmanager,
                    None,
                    "token_file",
                    &f.token_file,
                ),
            };
            let url = f
                .url
                .clone()
                .or(default_url.map(str::to_owned))
                .ok_or_else(|| {
                    ChannelError::config(in_file("url"), "the Alertmanager's base URL is needed")
                })?;
            url_ok("url", &url)?;
            let secret = match secret_file {
                Some(p) => Some(secret(secret_key, p)?),
                None if service == PagingService::Alertmanager => None,
                None => {
                    return Err(ChannelError::config(
                        in_file(secret_key),
                        "is needed (a file holding it, mode 0600)",
                    ));
                }
            };
            for (other, given) in [
                ("routing_key_file", &f.routing_key_file),
                ("api_key_file", &f.api_key_file),
                ("token_file", &f.token_file),
            ] {
                if other != secret_key && given.is_some() {
                    return Err(ChannelError::config(
                        in_file(other),
                        format!("is not a {kind} setting (it takes {secret_key})"),
                    ));
                }
            }
            Settings::Paging(PagingSettings {
                service,
                url,
                secret,
                tls: with_folder(f.tls_config, &folder),
            })
        }
        ProviderKind::InApp | ProviderKind::WhatsApp => unreachable_settings(),
    })
}

fn unreachable_settings() -> Settings {
    Settings::InApp
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Relative TLS file paths are relative to the provider file's folder.
fn with_folder(mut tls: outbound::TlsConfig, folder: &Path) -> outbound::TlsConfig {
    for p in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file]
        .into_iter()
        .flatten()
    {
        *p = folder.join(&*p);
    }
    tls
}

/// Reads a secret file: it must exist, be non-empty and not be readable by group or others.
pub(crate) fn read_secret(key: &str, path: &Path) -> Result<Secret, ChannelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ChannelError::ConfigFile {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(ChannelError::config(
                key,
                format!(
                    "{} is readable by group or others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
    }
    let value = text.trim();
    if value.is_empty() {
        return Err(ChannelError::config(
            key,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn parse(text: &str) -> ChannelsConfig {
        #[derive(Deserialize)]
        struct Main {
            channels: ChannelsConfig,
        }
        toml::from_str::<Main>(text).unwrap().channels
    }

    fn load_in(config: &ChannelsConfig, dir: &Path) -> Result<Loaded, ChannelError> {
        load(&ChannelsConfig {
            base_dir: dir.to_owned(),
            ..config.clone()
        })
    }

    #[test]
    fn the_issue_example_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("channels")).unwrap();
        write(
            &dir.path().join("channels"),
            "telegram.toml",
            "bot_token_file = \"bot.token\"\nchat_id = -100123\nmode = \"poll\"\n",
        );
        write(&dir.path().join("channels"), "bot.token", "123:ABC\n");
        let config = parse(
            "[[channels.provider]]\nid = \"ops-telegram\"\nkind = \"telegram\"\n\
             display_name = \"Ops on Telegram\"\nenabled = true\napprovals = true\n\
             config = \"channels/telegram.toml\"\n\
             [[channels.provider]]\nid = \"feed\"\nkind = \"in_app\"\n\
             [[channels.provider]]\nid = \"wa\"\nkind = \"whatsapp\"\n\
             [[channels.route]]\nproviders = [\"ops-telegram\"]\nseverity = [\"critical\"]\n\
             quiet_hours = { start = \"22:00\", end = \"07:00\", utc_offset = \"+01:00\" }\n\
             escalate_to = [\"feed\"]\n",
        );
        let loaded = load_in(&config, dir.path()).unwrap();
        assert_eq!(loaded.providers.len(), 3);
        let tg = &loaded.providers[0];
        assert_eq!((tg.kind, tg.approvals), (ProviderKind::Telegram, true));
        let Settings::Telegram(s) = &tg.settings else {
            panic!("{tg:?}")
        };
        assert_eq!(s.bot_token.expose(), "123:ABC");
        assert_eq!(s.api_url, "https://api.telegram.org");
        assert_eq!(s.chat_id, ChatId::Id(-100123));
        assert!(
            !format!("{tg:?}").contains("ABC"),
            "secrets stay out of Debug"
        );
        let quiet = loaded.routes[0].quiet.unwrap();
        assert_eq!(
            (quiet.start_min, quiet.end_min, quiet.offset_min),
            (1320, 420, 60)
        );
        assert_eq!(quiet.allow, Severity::Critical);
        assert!(!loaded.providers[2].kind.deliverable());
    }

    #[test]
    fn refusals_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"telegramm\"\n",
                "channels.provider[x].kind: unknown kind \"telegramm\"",
            ),
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"telegram\"\n",
                "channels.provider[x].config",
            ),
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"slack\"\nconfig = \"nope.toml\"\n",
                "channels.provider[x].config: cannot read",
            ),
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"in_app\"\n\
                 [[channels.route]]\nproviders = [\"y\"]\n",
                "channels.route[0].providers: no provider \"y\"",
            ),
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"in_app\"\n\
                 [[channels.route]]\nproviders = [\"x\"]\nseverity = [\"huge\"]\n",
                "channels.route[0].severity",
            ),
            (
                "[[channels.provider]]\nid = \"x\"\nkind = \"in_app\"\n\
                 [[channels.provider]]\nid = \"x\"\nkind = \"in_app\"\n",
                "channels.provider[1].id",
            ),
        ];
        for (text, want) in cases {
            let err = load_in(&parse(text), dir.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{err}\nwanted {want}");
        }
    }

    #[test]
    fn missing_and_empty_secrets_are_refused_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "tg.toml",
            "bot_token_file = \"bot.token\"\nchat_id = 1\n",
        );
        let config = parse(
            "[[channels.provider]]\nid = \"tg\"\nkind = \"telegram\"\nconfig = \"tg.toml\"\n",
        );
        let err = load_in(&config, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("bot_token_file") && err.contains("cannot read"),
            "{err}"
        );
        write(dir.path(), "bot.token", "  \n");
        let err = load_in(&config, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("bot_token_file") && err.contains("is empty"),
            "{err}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.path().join("bot.token"), "1:x").unwrap();
            std::fs::set_permissions(
                dir.path().join("bot.token"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            let err = load_in(&config, dir.path()).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        write(
            dir.path(),
            "hook.toml",
            "url = \"https://example.test/hook\"\n",
        );
        let config = parse(
            "[[channels.provider]]\nid = \"wh\"\nkind = \"webhook\"\nconfig = \"hook.toml\"\n",
        );
        let err = load_in(&config, dir.path()).unwrap_err().to_string();
        assert!(err.contains("secret_file"), "{err}");
        write(
            dir.path(),
            "mail.toml",
            "smtp_host = \"smtp.example.test\"\nsecurity = \"none\"\nfrom = \"srebot@example.test\"\nto = [\"ops@example.test\"]\n",
        );
        let config = parse(
            "[[channels.provider]]\nid = \"mail\"\nkind = \"email\"\nconfig = \"mail.toml\"\n",
        );
        let err = load_in(&config, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("security") && err.contains("loopback"),
            "{err}"
        );
    }
}
