//! The persistent outbox in the incident ledger (SQLite or PostgreSQL, migration 0004): one
//! row per provider and event key, delivered in order per thread, retried until delivered or
//! given up; each incident's thread per provider (its first message and its card); the short
//! codes chat buttons carry; and small per-provider state.
//!
//! A row is inserted once (`ON CONFLICT DO NOTHING` on provider and key), so an event
//! announced again after a restart is not delivered again; rows are marked delivered only
//! after the provider acknowledged them, so nothing accepted is lost across a restart.

use crate::error::ChannelError;
use crate::event::{ChannelEvent, ThreadCard};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::sync::atomic::{AtomicI64, Ordering};

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Pending,
    Delivered,
    /// Given up after `channels.give_up_after`, or refused for good by the provider.
    Failed,
}

impl RowState {
    fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Delivered => "delivered",
            RowState::Failed => "failed",
        }
    }
}

/// One queued delivery.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub provider_id: String,
    pub event: ChannelEvent,
    pub thread_key: Option<String>,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
}

/// A thread: the provider's reference to its first message and the card it shows.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// Telegram `message_id`, Slack `ts`, the first email's `Message-ID`.
    pub root_ref: Option<String>,
    pub card: ThreadCard,
}

/// What the outbox knows of a provider's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxHealth {
    pub last_delivery_ms: Option<i64>,
    pub last_error: Option<String>,
    pub queue_depth: u64,
    pub failed: u64,
    pub delivered: u64,
}

/// The outbox over the ledger's pool.
#[derive(Debug)]
pub struct Outbox {
    pool: AnyPool,
    next_seq: AtomicI64,
}

const ROW_COLUMNS: &str =
    "seq, provider_id, event_json, thread_key, attempts, next_attempt_ms, created_ms";

impl Outbox {
    /// Opens the outbox of a ledger (whose migrations made its tables).
    pub async fn open(ledger: &incident::Ledger) -> Result<Self, ChannelError> {
        let pool = ledger.pool().clone();
        let max: Option<i64> = sqlx::query("SELECT MAX(seq) AS m FROM channel_outbox")
            .fetch_one(&pool)
            .await
            .map_err(ChannelError::ledger("read outbox"))?
            .try_get("m")
            .map_err(ChannelError::ledger("read outbox"))?;
        Ok(Self {
            pool,
            next_seq: AtomicI64::new(max.unwrap_or(0) + 1),
        })
    }

    /// Queues `event` for `provider` no sooner than `not_before_ms`; `false` when this
    /// provider already has it (the same key), which is then left as it is.
    pub async fn enqueue(
        &self,
        provider: &str,
        event: &ChannelEvent,
        not_before_ms: i64,
        now_ms: i64,
    ) -> Result<bool, ChannelError> {
        let json = serde_json::to_string(event)
            .map_err(|source| ChannelError::StoredJson { id: 0, source })?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let done = sqlx::query(
            "INSERT INTO channel_outbox (seq, provider_id, event_key, thread_key, event_json, \
             state, attempts, next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) \
             ON CONFLICT (provider_id, event_key) DO NOTHING",
        )
        .bind(seq)
        .bind(provider)
        .bind(event.key.as_str())
        .bind(event.thread())
        .bind(json)
        .bind(RowState::Pending.as_str())
        .bind(not_before_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(ChannelError::ledger("queue a delivery"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether `provider` has a row for `key` (in any state).
    pub async fn has(&self, provider: &str, key: &str) -> Result<bool, ChannelError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM channel_outbox WHERE provider_id = $1 AND event_key = $2",
        )
        .bind(provider)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(ChannelError::ledger("read outbox"))?;
        Ok(row
            .try_get::<i64, _>("n")
            .map_err(ChannelError::ledger("read outbox"))?
            > 0)
    }

    /// Pending rows of `provider` in order (at most `limit`).
    pub async fn pending(
        &self,
        provider: &str,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, ChannelError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM channel_outbox WHERE provider_id = $1 AND state = $2 \
             ORDER BY seq LIMIT $3"
        )))
        .bind(provider)
        .bind(RowState::Pending.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(ChannelError::ledger("read pending deliveries"))?;
        rows.iter().map(row_of).collect()
    }

    /// The rows of `pending` that may go now: due, and no earlier row of their thread waiting.
    /// Rows of one thread come out together, in order, so they can be delivered as one.
    pub fn due(pending: &[OutboxRow], now_ms: i64) -> Vec<Vec<OutboxRow>> {
        let mut blocked: Vec<&str> = Vec::new();
        let mut groups: Vec<Vec<OutboxRow>> = Vec::new();
        for row in pending {
            let thread = row.thread_key.as_deref();
            if let Some(t) = thread
                && blocked.contains(&t)
            {
                continue;
            }
            if row.next_attempt_ms > now_ms {
                if let Some(t) = thread {
                    blocked.push(t);
                }
                continue;
            }
            match groups
                .iter_mut()
                .find(|g| thread.is_some() && g[0].thread_key.as_deref() == thread)
            {
                Some(group) => group.push(row.clone()),
                None => groups.push(vec![row.clone()]),
            }
        }
        groups
    }

    /// Marks rows delivered.
    pub async fn delivered(&self, seqs: &[i64], now_ms: i64) -> Result<(), ChannelError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ChannelError::ledger("begin"))?;
        for seq in seqs {
            sqlx::query(
                "UPDATE channel_outbox SET state = $1, delivered_ms = $2, attempts = attempts + 1 \
                 WHERE seq = $3",
            )
            .bind(RowState::Delivered.as_str())
            .bind(now_ms)
            .bind(*seq)
            .execute(&mut *tx)
            .await
            .map_err(ChannelError::ledger("mark delivered"))?;
        }
        tx.commit().await.map_err(ChannelError::ledger("commit"))
    }

    /// Records a failed attempt: the next try at `next_ms`, or given up (`give_up`).
    pub async fn failed(
        &self,
        seqs: &[i64],
        error: &str,
        next_ms: i64,
        give_up: bool,
    ) -> Result<(), ChannelError> {
        let state = if give_up {
            RowState::Failed
        } else {
            RowState::Pending
        };
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ChannelError::ledger("begin"))?;
        for seq in seqs {
            sqlx::query(
                "UPDATE channel_outbox SET state = $1, attempts = attempts + 1, \
                 next_attempt_ms = $2, last_error = $3 WHERE seq = $4",
            )
            .bind(state.as_str())
            .bind(next_ms)
            .bind(error)
            .bind(*seq)
            .execute(&mut *tx)
            .await
            .map_err(ChannelError::ledger("record a failed delivery"))?;
        }
        tx.commit().await.map_err(ChannelError::ledger("commit"))
    }

    /// Health figures of `provider`.
    pub async fn health(&self, provider: &str) -> Result<OutboxHealth, ChannelError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT MAX(delivered_ms) FROM channel_outbox WHERE provider_id = $1) AS last, \
             (SELECT COUNT(*) FROM channel_outbox WHERE provider_id = $1 AND state = 'pending') AS depth, \
             (SELECT COUNT(*) FROM channel_outbox WHERE provider_id = $1 AND state = 'failed') AS failed, \
             (SELECT COUNT(*) FROM channel_outbox WHERE provider_id = $1 AND state = 'delivered') AS delivered",
        )
        .bind(provider)
        .fetch_one(&self.pool)
        .await
        .map_err(ChannelError::ledger("read channel health"))?;
        let count = |name: &'static str| {
            row.try_get::<i64, _>(name)
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(ChannelError::ledger("read channel health"))
        };
        let error = sqlx::query(
            "SELECT last_error FROM channel_outbox WHERE provider_id = $1 AND last_error IS NOT NULL \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(provider)
        .fetch_optional(&self.pool)
        .await
        .map_err(ChannelError::ledger("read channel health"))?;
        Ok(OutboxHealth {
            last_delivery_ms: row
                .try_get("last")
                .map_err(ChannelError::ledger("read channel health"))?,
            last_error: error
                .map(|r| r.try_get::<String, _>("last_error"))
                .transpose()
                .map_err(ChannelError::ledger("read channel health"))?,
            queue_depth: count("depth")?,
            failed: count("failed")?,
            delivered: count("delivered")?,
        })
    }

    /// The thread of `thread_key` on `provider` (empty when none yet).
    pub async fn thread(&self, provider: &str, thread_key: &str) -> Result<Thread, ChannelError> {
        let row = sqlx::query(
            "SELECT root_ref, card_json FROM channel_threads WHERE provider_id = $1 AND thread_key = $2",
        )
        .bind(provider)
        .bind(thread_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(ChannelError::ledger("read thread"))?;
        let Some(row) = row else {
            return Ok(Thread::default());
        };
        let card: String = row
            .try_get("card_json")
            .map_err(ChannelError::ledger("read thread"))?;
        Ok(Thread {
            root_ref: row
                .try_get("root_ref")
                .map_err(ChannelError::ledger("read thread"))?,
            card: serde_json::from_str(&card)
                .map_err(|source| ChannelError::StoredJson { id: 0, source })?,
        })
    }

    /// Stores a thread's root and card.
    pub async fn save_thread(
        &self,
        provider: &str,
        thread_key: &str,
        thread: &Thread,
        now_ms: i64,
    ) -> Result<(), ChannelError> {
        let card = serde_json::to_string(&thread.card)
            .map_err(|source| ChannelError::StoredJson { id: 0, source })?;
        sqlx::query(
            "INSERT INTO channel_threads (provider_id, thread_key, root_ref, card_json, updated_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider_id, thread_key) DO UPDATE SET \
             root_ref = excluded.root_ref, card_json = excluded.card_json, updated_ms = excluded.updated_ms",
        )
        .bind(provider)
        .bind(thread_key)
        .bind(thread.root_ref.as_deref())
        .bind(card)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(ChannelError::ledger("write thread"))?;
        Ok(())
    }

    /// The short code a button of `provider` carries for `approval` (made once, then reused).
    pub async fn callback_code(
        &self,
        provider: &str,
        approval: &str,
        incident: &str,
        now_ms: i64,
    ) -> Result<String, ChannelError> {
        if let Some(code) = sqlx::query(
            "SELECT code FROM channel_callbacks WHERE provider_id = $1 AND approval_id = $2",
        )
        .bind(provider)
        .bind(approval)
        .fetch_optional(&self.pool)
        .await
        .map_err(ChannelError::ledger("read callback code"))?
        {
            return code
                .try_get("code")
                .map_err(ChannelError::ledger("read callback code"));
        }
        let code = random_code();
        sqlx::query(
            "INSERT INTO channel_callbacks (code, provider_id, approval_id, incident_id, created_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider_id, approval_id) DO NOTHING",
        )
        .bind(code.as_str())
        .bind(provider)
        .bind(approval)
        .bind(incident)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(ChannelError::ledger("write callback code"))?;
        Ok(code)
    }

    /// The approval and incident a button's code stands for on `provider`.
    pub async fn resolve_code(
        &self,
        provider: &str,
        code: &str,
    ) -> Result<Option<(String, String)>, ChannelError> {
        let row = sqlx::query(
            "SELECT approval_id, incident_id FROM channel_callbacks WHERE provider_id = $1 AND code = $2",
        )
        .bind(provider)
        .bind(code)
        .fetch_optional(&self.pool)
        .await
        .map_err(ChannelError::ledger("read callback code"))?;
        row.map(|r| {
            Ok((
                r.try_get("approval_id")
                    .map_err(ChannelError::ledger("read callback code"))?,
                r.try_get("incident_id")
                    .map_err(ChannelError::ledger("read callback code"))?,
            ))
        })
        .transpose()
    }

    /// A small named value of a provider (Telegram's update offset, ...).
    pub async fn state(&self, provider: &str, name: &str) -> Result<Option<String>, ChannelError> {
        let row =
            sqlx::query("SELECT value FROM channel_state WHERE provider_id = $1 AND name = $2")
                .bind(provider)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(ChannelError::ledger("read channel state"))?;
        row.map(|r| r.try_get("value"))
            .transpose()
            .map_err(ChannelError::ledger("read channel state"))
    }

    pub async fn set_state(
        &self,
        provider: &str,
        name: &str,
        value: &str,
    ) -> Result<(), ChannelError> {
        sqlx::query(
            "INSERT INTO channel_state (provider_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (provider_id, name) DO UPDATE SET value = excluded.value",
        )
        .bind(provider)
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(ChannelError::ledger("write channel state"))?;
        Ok(())
    }

    /// Every row for `provider` in order with its state (for tests and the health view).
    pub async fn rows(&self, provider: &str) -> Result<Vec<(String, RowState, u32)>, ChannelError> {
        let rows = sqlx::query(
            "SELECT event_key, state, attempts FROM channel_outbox WHERE provider_id = $1 ORDER BY seq",
        )
        .bind(provider)
        .fetch_all(&self.pool)
        .await
        .map_err(ChannelError::ledger("read outbox"))?;
        rows.iter()
            .map(|r| {
                let state: String = r
                    .try_get("state")
                    .map_err(ChannelError::ledger("read outbox"))?;
                Ok((
                    r.try_get("event_key")
                        .map_err(ChannelError::ledger("read outbox"))?,
                    match state.as_str() {
                        "delivered" => RowState::Delivered,
                        "failed" => RowState::Failed,
                        _ => RowState::Pending,
                    },
                    u32::try_from(
                        r.try_get::<i64, _>("attempts")
                            .map_err(ChannelError::ledger("read outbox"))?,
                    )
                    .unwrap_or(0),
                ))
            })
            .collect()
    }
}

/// A 10-character code of letters and digits (~59 bits): unguessable, and short enough for
/// Telegram's 64-byte `callback_data`.
fn random_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn row_of(row: &AnyRow) -> Result<OutboxRow, ChannelError> {
    let seq: i64 = row
        .try_get("seq")
        .map_err(ChannelError::ledger("read outbox"))?;
    let json: String = row
        .try_get("event_json")
        .map_err(ChannelError::ledger("read outbox"))?;
    Ok(OutboxRow {
        seq,
        provider_id: row
            .try_get("provider_id")
            .map_err(ChannelError::ledger("read outbox"))?,
        event: serde_json::from_str(&json)
            .map_err(|source| ChannelError::StoredJson { id: seq, source })?,
        thread_key: row
            .try_get("thread_key")
            .map_err(ChannelError::ledger("read outbox"))?,
        attempts: u32::try_from(
            row.try_get::<i64, _>("attempts")
                .map_err(ChannelError::ledger("read outbox"))?,
        )
        .unwrap_or(0),
        next_attempt_ms: row
            .try_get("next_attempt_ms")
            .map_err(ChannelError::ledger("read outbox"))?,
        created_ms: row
            .try_get("created_ms")
            .map_err(ChannelError::ledger("read outbox"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn event(key: &str, thread: Option<&str>) -> ChannelEvent {
        ChannelEvent {
            key: key.into(),
            kind: EventKind::Test,
            incident: None,
            approval: thread.map(|t| crate::event::ApprovalBrief {
                id: format!("apr-{key}"),
                incident_id: t.into(),
                action: "restart_deployment".into(),
                target: "deployment/shop/x".into(),
                clause: "c".into(),
                requested_ms: 0,
                expires_ms: 0,
                status: crate::event::ApprovalStatus::Pending,
                answered_by: None,
                note: None,
                undo: String::new(),
            }),
            text: key.into(),
            at_ms: 0,
        }
    }

    #[tokio::test]
    async fn rows_are_kept_once_per_key_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
        let outbox = Outbox::open(&ledger).await.unwrap();
        assert!(
            outbox
                .enqueue("tg", &event("a", Some("inc-1")), 0, 0)
                .await
                .unwrap()
        );
        assert!(
            !outbox
                .enqueue("tg", &event("a", Some("inc-1")), 0, 0)
                .await
                .unwrap()
        );
        assert!(
            outbox
                .enqueue("mail", &event("a", Some("inc-1")), 0, 0)
                .await
                .unwrap()
        );
        assert!(
            outbox
                .enqueue("tg", &event("b", Some("inc-1")), 0, 0)
                .await
                .unwrap()
        );
        assert!(
            outbox
                .enqueue("tg", &event("c", Some("inc-2")), 50, 0)
                .await
                .unwrap()
        );
        assert!(outbox.enqueue("tg", &event("d", None), 0, 0).await.unwrap());
        ledger.close().await;

        let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
        let outbox = Outbox::open(&ledger).await.unwrap();
        assert!(
            !outbox
                .enqueue("tg", &event("b", Some("inc-1")), 0, 0)
                .await
                .unwrap()
        );
        assert!(
            outbox
                .enqueue("tg", &event("e", Some("inc-2")), 0, 0)
                .await
                .unwrap()
        );
        let pending = outbox.pending("tg", 100).await.unwrap();
        let keys: Vec<&str> = pending.iter().map(|r| r.event.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        // inc-1's two rows go together; inc-2 waits for c (not due), so e waits too.
        let due = Outbox::due(&pending, 10);
        let groups: Vec<Vec<&str>> = due
            .iter()
            .map(|g| g.iter().map(|r| r.event.key.as_str()).collect())
            .collect();
        assert_eq!(groups, [vec!["a", "b"], vec!["d"]]);
        outbox
            .delivered(&[pending[0].seq, pending[1].seq], 11)
            .await
            .unwrap();
        outbox
            .failed(&[pending[3].seq], "boom", 99, false)
            .await
            .unwrap();
        let health = outbox.health("tg").await.unwrap();
        assert_eq!(health.queue_depth, 3);
        assert_eq!(health.delivered, 2);
        assert_eq!(health.last_delivery_ms, Some(11));
        assert_eq!(health.last_error.as_deref(), Some("boom"));
        assert_eq!(
            Outbox::due(&outbox.pending("tg", 100).await.unwrap(), 60).len(),
            1
        );

        let code = outbox
            .callback_code("tg", "apr-1", "inc-1", 0)
            .await
            .unwrap();
        assert_eq!(code.len(), 10);
        assert_eq!(
            outbox
                .callback_code("tg", "apr-1", "inc-1", 0)
                .await
                .unwrap(),
            code
        );
        assert_eq!(
            outbox.resolve_code("tg", &code).await.unwrap(),
            Some(("apr-1".into(), "inc-1".into()))
        );
        assert_eq!(outbox.resolve_code("mail", &code).await.unwrap(), None);
        outbox.set_state("tg", "offset", "41").await.unwrap();
        outbox.set_state("tg", "offset", "42").await.unwrap();
        assert_eq!(
            outbox.state("tg", "offset").await.unwrap().as_deref(),
            Some("42")
        );
        let mut thread = outbox.thread("tg", "inc-1").await.unwrap();
        assert!(thread.root_ref.is_none());
        thread.root_ref = Some("17".into());
        thread.card.lines.push("x".into());
        outbox.save_thread("tg", "inc-1", &thread, 5).await.unwrap();
        let again = outbox.thread("tg", "inc-1").await.unwrap();
        assert_eq!(again.root_ref.as_deref(), Some("17"));
        assert_eq!(again.card.lines, ["x"]);
    }
}
