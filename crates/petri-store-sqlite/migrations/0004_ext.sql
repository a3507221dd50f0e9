-- Crons, generators, channel messages, files, snapshots and blueprints.
-- Documents as elsewhere; the other columns are derived for lookup and order.
-- Every statement is idempotent.
CREATE TABLE IF NOT EXISTS crons (
    cronid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    nextrun INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crons_by_colony ON crons (colonyname, name);
CREATE INDEX IF NOT EXISTS crons_by_nextrun ON crons (nextrun);

CREATE TABLE IF NOT EXISTS generators (
    generatorid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generators_by_colony ON generators (colonyname, name);

CREATE TABLE IF NOT EXISTS generator_args (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    generatorid TEXT NOT NULL,
    arg TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generator_args_by_generator ON generator_args (generatorid, id);

-- One row per channel message: `pos` is its place in the log, `id` its arrival.
CREATE TABLE IF NOT EXISTS channel_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    processid TEXT NOT NULL,
    name TEXT NOT NULL,
    pos INTEGER NOT NULL,
    senderid TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    size INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_entries_by_pos ON channel_entries (processid, name, pos);
CREATE INDEX IF NOT EXISTS channel_entries_by_sender ON channel_entries (processid, name, senderid, pos);

-- `seqnr` is the file's sequence number: higher for every file added later.
CREATE TABLE IF NOT EXISTS files (
    seqnr INTEGER PRIMARY KEY AUTOINCREMENT,
    fileid TEXT NOT NULL UNIQUE,
    colonyname TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_name ON files (colonyname, label, name, seqnr);

CREATE TABLE IF NOT EXISTS snapshots (
    snapshotid TEXT PRIMARY KEY,
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    added INTEGER,
    doc TEXT NOT NULL,
    UNIQUE (colonyname, name)
);

CREATE TABLE IF NOT EXISTS blueprint_definitions (
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, name)
);

CREATE TABLE IF NOT EXISTS blueprints (
    colonyname TEXT NOT NULL,
    name TEXT NOT NULL,
    blueprintid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    locationname TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (colonyname, name)
);
CREATE INDEX IF NOT EXISTS blueprints_by_kind ON blueprints (colonyname, kind, locationname);

CREATE TABLE IF NOT EXISTS blueprint_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    blueprintid TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blueprint_history_by_blueprint ON blueprint_history (blueprintid, id);

-- Removing a colony removes these objects too. (Channel messages go with
-- their processes: the channel sweep deletes those of processes that are gone.)
CREATE TRIGGER IF NOT EXISTS colonies_ext_cascade AFTER DELETE ON colonies
BEGIN
    DELETE FROM crons WHERE colonyname = OLD.name;
    DELETE FROM generator_args WHERE generatorid IN (SELECT generatorid FROM generators WHERE colonyname = OLD.name);
    DELETE FROM generators WHERE colonyname = OLD.name;
    DELETE FROM files WHERE colonyname = OLD.name;
    DELETE FROM snapshots WHERE colonyname = OLD.name;
    DELETE FROM blueprint_history WHERE blueprintid IN (SELECT blueprintid FROM blueprints WHERE colonyname = OLD.name);
    DELETE FROM blueprints WHERE colonyname = OLD.name;
    DELETE FROM blueprint_definitions WHERE colonyname = OLD.name;
END;
