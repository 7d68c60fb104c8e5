-- The source an incident's data came from (tenant, optionally a cluster label's value);
-- incidents stored before sources were kept belong to the default source.
ALTER TABLE incidents ADD COLUMN source TEXT NOT NULL DEFAULT 'default';
