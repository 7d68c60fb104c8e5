-- Operator channels (the channels crate keeps these): the outbox of deliveries (one row per
-- provider and event, so an event is delivered once per provider across restarts), one thread
-- per incident and provider, the short codes chat buttons carry, and small per-provider state
-- such as Telegram's update offset.

CREATE TABLE channel_outbox (
    seq BIGINT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    event_key TEXT NOT NULL,
    thread_key TEXT,
    event_json TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    last_error TEXT,
    UNIQUE (provider_id, event_key)
);
CREATE INDEX channel_outbox_pending ON channel_outbox (provider_id, state, seq);

CREATE TABLE channel_threads (
    provider_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    root_ref TEXT,
    card_json TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (provider_id, thread_key)
);

CREATE TABLE channel_callbacks (
    code TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (provider_id, approval_id)
);

CREATE TABLE channel_state (
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (provider_id, name)
);
