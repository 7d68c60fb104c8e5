//! Integration tests of the channels crate: Telegram against the Bot API emulator, Slack's
//! signed requests, email to a real SMTP server, Teams and webhooks against loopback
//! receivers, paging hand-off (PagerDuty and Opsgenie stand-ins, the real Alertmanager), and the
//! outbox across failures and restarts.

#![allow(clippy::unwrap_used)]

mod delivery;
mod outbox;
mod paging;
mod support;
mod telegram;
