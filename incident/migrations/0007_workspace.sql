-- The operator workspace: who acknowledged and who owns an incident, feedback on incidents,
-- the one list of suppression windows (workspace, chat `silence` and the policy's
-- `[[windows]] kind = "suppression"`), and rule suggestions learned from what repeats.

ALTER TABLE incidents ADD COLUMN assignee TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_at_ms BIGINT;
CREATE INDEX incidents_opened ON incidents (opened_at_ms);

CREATE TABLE incident_feedback (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    verdict TEXT NOT NULL,
    note TEXT NOT NULL,
    author TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX incident_feedback_incident ON incident_feedback (incident_id);

CREATE TABLE suppressions (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    name TEXT NOT NULL,
    signature TEXT,
    namespaces TEXT NOT NULL,
    incident_types TEXT NOT NULL,
    time_json TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    removed_by TEXT,
    removed_at_ms BIGINT
);

CREATE TABLE rule_suggestions (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    rule_toml TEXT NOT NULL,
    evidence_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    decided_by TEXT,
    decided_at_ms BIGINT,
    note TEXT
);
