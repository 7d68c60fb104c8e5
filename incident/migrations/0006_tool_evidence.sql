-- Read-only tool results kept as citable evidence: what an operator, an MCP client, the draft
-- or the model ran, with its arguments and its (bounded) result. Ids are content-addressed
-- (`tool-<digest of tool, arguments and result>`), so the same observation is one row.

CREATE TABLE tool_evidence (
    id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    args_json TEXT NOT NULL,
    incident_id TEXT,
    ran_by TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    summary TEXT NOT NULL,
    result_json TEXT NOT NULL,
    truncated BIGINT NOT NULL
);
CREATE INDEX tool_evidence_incident ON tool_evidence (incident_id, at_ms);
CREATE INDEX tool_evidence_at ON tool_evidence (at_ms);
