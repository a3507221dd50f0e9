-- Every state change rewrote all four indexes over mutable columns, whether
-- their values changed or not. Partial indexes hold only the rows they serve,
-- so most transitions touch two: the queue holds only ready processes, the
-- deadline index only processes with a deadline, and the executor index only
-- running processes. (Statements name the index terms literally, `ready = 1`,
-- `state = 1`, so the planner can use them; plans are kept stable by the
-- connection's query-planner-stability setting, so no statement is re-prepared.)
DROP INDEX processes_queue;
CREATE INDEX processes_queue ON processes (colonyname, executortype, prioritytime, seq) WHERE ready = 1;
DROP INDEX processes_by_deadline;
CREATE INDEX processes_by_deadline ON processes (deadline) WHERE deadline IS NOT NULL;
DROP INDEX processes_by_executor;
CREATE INDEX processes_running_by_executor ON processes (assignedexecutorid) WHERE state = 1;
