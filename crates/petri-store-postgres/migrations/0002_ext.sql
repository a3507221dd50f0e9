-- Crons, generators, channel messages, files, snapshots and blueprints.
-- Documents as elsewhere; the other columns are derived for lookup and order.
CREATE TABLE crons (
    cronid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    nextrun BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX crons_by_colony ON crons (colonyname, name);
CREATE INDEX crons_by_nextrun ON crons (nextrun);

CREATE TABLE generators (
    generatorid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX generators_by_colony ON generators (colonyname, name);

CREATE TABLE generator_args (
    id BIGSERIAL PRIMARY KEY,
    generatorid TEXT NOT NULL,
    arg TEXT NOT NULL
);
CREATE INDEX generator_args_by_generator ON generator_args (generatorid, id);

-- One row per channel message: `pos` is its place in the log, `id` its arrival.
CREATE TABLE channel_entries (
    id BIGSERIAL PRIMARY KEY,
    processid TEXT NOT NULL,
    name TEXT NOT NULL,
    pos BIGINT NOT NULL,
    senderid TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    size BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX channel_entries_by_pos ON channel_entries (processid, name, pos);
CREATE INDEX channel_entries_by_sender ON channel_entries (processid, name, senderid, pos);

-- `seqnr` is the file's sequence number: higher for every file added later.
CREATE TABLE files (
    seqnr BIGSERIAL PRIMARY KEY,
    fileid TEXT NOT NULL UNIQUE,
    colonyname TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX files_by_name ON files (colonyname, label, name, seqnr);

CREATE TABLE snapshots (
    snapshotid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    added BIGINT,
    doc TEXT NOT NULL,
    UNIQUE (colonyname, name)
);

CREATE TABLE blueprint_definitions (
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, name)
);

CREATE TABLE blueprints (
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    blueprintid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    locationname TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, name)
);
CREATE INDEX blueprints_by_kind ON blueprints (colonyname, kind, locationname);

CREATE TABLE blueprint_history (
    id BIGSERIAL PRIMARY KEY,
    blueprintid TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX blueprint_history_by_blueprint ON blueprint_history (blueprintid, id);

-- Removing a colony removes these objects too. (Channel messages go with
-- their processes: the channel sweep deletes those of processes that are gone.)
CREATE FUNCTION colonies_ext_cascade() RETURNS trigger AS $$
BEGIN
    DELETE FROM crons WHERE colonyname = OLD.name;
    DELETE FROM generator_args WHERE generatorid IN (SELECT generatorid FROM generators WHERE colonyname = OLD.name);
    DELETE FROM generators WHERE colonyname = OLD.name;
    DELETE FROM files WHERE colonyname = OLD.name;
    DELETE FROM snapshots WHERE colonyname = OLD.name;
    DELETE FROM blueprint_history WHERE blueprintid IN (SELECT blueprintid FROM blueprints WHERE colonyname = OLD.name);
    DELETE FROM blueprints WHERE colonyname = OLD.name;
    DELETE FROM blueprint_definitions WHERE colonyname = OLD.name;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER colonies_ext_cascade AFTER DELETE ON colonies
    FOR EACH ROW EXECUTE FUNCTION colonies_ext_cascade();
