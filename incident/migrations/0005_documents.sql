-- Small named documents the application keeps beside the incidents, written whole: the
-- remediation book (approval requests, used token nonces, actions, cooldown history).
CREATE TABLE documents (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
