-- The deadline that applies in the process's current state: its wait
-- deadline while waiting, its execution deadline while running.
ALTER TABLE processes ADD COLUMN deadline INTEGER;
CREATE INDEX processes_by_deadline ON processes (deadline) WHERE deadline IS NOT NULL;
