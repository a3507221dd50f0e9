-- Objects are stored as their Colonies JSON documents (`doc`); the other
-- columns are derived from the document on every write and exist for lookup,
-- ordering, locking and uniqueness only.
CREATE TABLE colonies (
    name TEXT PRIMARY KEY,
    colonyid TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE executors (
    colonyname TEXT NOT NULL,
    executorname TEXT NOT NULL,
    executorid TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, executorname)
);
CREATE INDEX executors_by_id ON executors (executorid);

CREATE TABLE users (
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    userid TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, name)
);
CREATE UNIQUE INDEX users_by_id ON users (colonyname, userid);

CREATE TABLE functions (
    functionid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    executorname TEXT NOT NULL,
    funcname TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX functions_by_colony ON functions (colonyname, executorname, funcname);

CREATE TABLE processes (
    seq BIGSERIAL PRIMARY KEY,
    processid TEXT NOT NULL UNIQUE,
    colonyname TEXT NOT NULL,
    state INTEGER NOT NULL,
    executortype TEXT NOT NULL,
    ready BOOLEAN NOT NULL,
    prioritytime BIGINT NOT NULL,
    processgraphid TEXT NOT NULL,
    assignedexecutorid TEXT NOT NULL,
    initiatorname TEXT NOT NULL,
    label TEXT NOT NULL,
    starttime BIGINT,
    endtime BIGINT,
    deadline BIGINT,
    doc TEXT NOT NULL
);
-- The assignment queue: ready waiting processes of one type, highest priority, then oldest.
CREATE INDEX processes_queue ON processes (colonyname, executortype, prioritytime, seq) WHERE ready;
CREATE INDEX processes_by_state ON processes (colonyname, state);
CREATE INDEX processes_by_graph ON processes (processgraphid);
CREATE INDEX processes_by_executor ON processes (assignedexecutorid, state);
CREATE INDEX processes_by_deadline ON processes (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE graphs (
    processgraphid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    state INTEGER NOT NULL,
    submissiontime BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX graphs_by_colony ON graphs (colonyname, state, submissiontime);

CREATE TABLE attributes (
    attributeid TEXT PRIMARY KEY,
    processid TEXT NOT NULL
);
CREATE INDEX attributes_by_process ON attributes (processid);

CREATE TABLE logs (
    id BIGSERIAL PRIMARY KEY,
    processid TEXT NOT NULL,
    colonyname TEXT NOT NULL,
    executorname TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX logs_by_process ON logs (processid, timestamp);
CREATE INDEX logs_by_executor ON logs (executorname, timestamp);
