//! Integration tests of the channels crate: Telegram against the Bot API emulator, Slack's
//! signed requests, email to a real SMTP server, Teams and webhooks against loopback
//! receivers, and the outbox across failures and restarts.

#![allow(clippy::unwrap_used)]

mod delivery;
mod outbox;
mod support;
mod telegram;
