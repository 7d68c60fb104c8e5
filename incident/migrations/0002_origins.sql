-- What produced the candidates behind an incident: origin names in name order, joined by
-- commas (e.g. `alertmanager,rules`); empty for incidents stored before origins were kept.
ALTER TABLE incidents ADD COLUMN origins TEXT NOT NULL DEFAULT '';
