-- Partial indexes make SQLite re-prepare every statement on `processes` whose
-- parameters change (it re-checks whether the bound values imply the index's
-- WHERE clause), which cost more than the indexes saved. Full indexes instead.
DROP INDEX processes_queue;
CREATE INDEX processes_queue ON processes (colonyname, executortype, ready, prioritytime, seq);
DROP INDEX processes_by_deadline;
CREATE INDEX processes_by_deadline ON processes (deadline);
