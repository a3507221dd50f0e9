//! [`ExtStore`] on SQLite: crons, generators, channels, files, snapshots and
//! blueprints (`migrations/0004_ext.sql`). One server owns the file, so its
//! write transactions alone make fires and appends atomic.

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Cron, File, Generator, MsgEntry, Snapshot, state,
};
use petri_core::ext::{SenderSlot, label_covers, place_message};
use petri_store::ext::{ChannelLimits, ExtStore, GeneratorArg, NewGraph, StoredEntry};
use petri_store::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, db_err, doc, docs, from_doc, put_graph, put_process, to_doc, write_err};

fn put_graph_and_processes(tx: &Connection, graph: &NewGraph) -> StoreResult<()> {
    put_graph(tx, &graph.0)?;
    for p in &graph.1 {
        put_process(tx, p)?;
    }
    Ok(())
}

fn put_cron(tx: &Connection, c: &Cron) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO crons (cronid, colonyname, name, nextrun, doc) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (cronid) DO UPDATE SET nextrun = ?4, doc = ?5",
        params![c.cronid, c.colonyname, c.name, c.nextrun.nanos(), to_doc(c)?],
    )
    .map_err(|e| write_err(e, "cron"))?;
    Ok(())
}

fn put_generator(tx: &Connection, g: &Generator) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO generators (generatorid, colonyname, name, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (generatorid) DO UPDATE SET doc = ?4",
        params![g.generatorid, g.colonyname, g.name, to_doc(g)?],
    )
    .map_err(|e| write_err(e, "generator"))?;
    Ok(())
}

fn stored_entries(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<StoredEntry>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, text) = row.map_err(db_err)?;
        out.push(StoredEntry {
            id,
            entry: from_doc(&text)?,
        });
    }
    Ok(out)
}

fn put_history(tx: &Connection, h: &BlueprintHistory) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO blueprint_history (blueprintid, doc) VALUES (?1, ?2)",
        params![h.blueprintid, to_doc(h)?],
    )
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl ExtStore for SqliteStore {
    async fn add_cron(&self, cron: Cron) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO crons (cronid, colonyname, name, nextrun, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    cron.cronid,
                    cron.colonyname,
                    cron.name,
                    cron.nextrun.nanos(),
                    to_doc(&cron)?
                ],
            )
            .map_err(|e| write_err(e, "cron"))?;
            Ok(())
        })
        .await
    }

    async fn get_cron(&self, id: &str) -> StoreResult<Option<Cron>> {
        let id = id.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM crons WHERE cronid = ?1", [id]))
            .await
    }

    async fn list_crons(&self, colony: &str, count: usize) -> StoreResult<Vec<Cron>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM crons WHERE colonyname = ?1 ORDER BY name, cronid LIMIT ?2",
                params![colony, count as i64],
            )
        })
        .await
    }

    async fn crons_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Cron>> {
        let now = now.nanos().unwrap_or(0);
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM crons WHERE nextrun IS NULL OR nextrun <= ?1 ORDER BY nextrun LIMIT ?2",
                params![now, limit as i64],
            )
        })
        .await
    }

    async fn remove_cron(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.tx(move |tx| {
            Ok(tx
                .execute("DELETE FROM crons WHERE cronid = ?1", [id])
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn fire_cron(&self, read: &Cron, next: Cron, graph: Option<NewGraph>) -> StoreResult<bool> {
        let read = read.clone();
        self.tx(move |tx| {
            let stored: Option<Cron> = doc(tx, "SELECT doc FROM crons WHERE cronid = ?1", [&read.cronid])?;
            if stored.as_ref() != Some(&read) {
                return Ok(false);
            }
            put_cron(tx, &next)?;
            if let Some(g) = &graph {
                put_graph_and_processes(tx, g)?;
            }
            Ok(true)
        })
        .await
    }

    async fn add_generator(&self, generator: Generator) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO generators (generatorid, colonyname, name, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    generator.generatorid,
                    generator.colonyname,
                    generator.name,
                    to_doc(&generator)?
                ],
            )
            .map_err(|e| write_err(e, "generator"))?;
            Ok(())
        })
        .await
    }

    async fn get_generator(&self, id: &str) -> StoreResult<Option<Generator>> {
        let id = id.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM generators WHERE generatorid = ?1", [id]))
            .await
    }

    async fn generator_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Generator>> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM generators WHERE colonyname = ?1 AND name = ?2 ORDER BY generatorid LIMIT 1",
                [colony, name],
            )
        })
        .await
    }

    async fn list_generators(&self, colony: &str, count: usize) -> StoreResult<Vec<Generator>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM generators WHERE colonyname = ?1 ORDER BY name, generatorid LIMIT ?2",
                params![colony, count as i64],
            )
        })
        .await
    }

    async fn generators_with_args(&self, limit: usize) -> StoreResult<Vec<Generator>> {
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM generators WHERE generatorid IN (SELECT DISTINCT generatorid FROM generator_args)
                 LIMIT ?1",
                [limit as i64],
            )
        })
        .await
    }

    async fn remove_generator(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.tx(move |tx| {
            tx.execute("DELETE FROM generator_args WHERE generatorid = ?1", [&id])
                .map_err(db_err)?;
            Ok(tx
                .execute("DELETE FROM generators WHERE generatorid = ?1", [&id])
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn pack_generator(&self, id: &str, arg: String, now: Timestamp) -> StoreResult<()> {
        let id = id.to_owned();
        self.tx(move |tx| {
            let mut g: Generator = doc(tx, "SELECT doc FROM generators WHERE generatorid = ?1", [&id])?
                .ok_or_else(|| StoreError::NotFound(format!("generator {id} not found")))?;
            tx.execute(
                "INSERT INTO generator_args (generatorid, arg) VALUES (?1, ?2)",
                params![id, arg],
            )
            .map_err(db_err)?;
            if g.firstpack.is_unset() {
                g.firstpack = now;
                put_generator(tx, &g)?;
            }
            Ok(())
        })
        .await
    }

    async fn generator_args(&self, id: &str, limit: usize) -> StoreResult<(Vec<GeneratorArg>, i64)> {
        let id = id.to_owned();
        self.run(move |c| {
            let total: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM generator_args WHERE generatorid = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let mut stmt = c
                .prepare_cached("SELECT id, arg FROM generator_args WHERE generatorid = ?1 ORDER BY id LIMIT ?2")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id, limit as i64], |r| {
                    Ok(GeneratorArg {
                        id: r.get(0)?,
                        arg: r.get(1)?,
                    })
                })
                .map_err(db_err)?;
            let args = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
            Ok((args, total))
        })
        .await
    }

    async fn fire_generator(&self, next: Generator, args: &[GeneratorArg], graph: NewGraph) -> StoreResult<bool> {
        let ids: Vec<i64> = args.iter().map(|a| a.id).collect();
        self.tx(move |tx| {
            let mut taken = 0;
            for id in &ids {
                taken += tx
                    .execute(
                        "DELETE FROM generator_args WHERE id = ?1 AND generatorid = ?2",
                        params![id, next.generatorid],
                    )
                    .map_err(db_err)?;
            }
            if taken != ids.len() {
                // Another fire took some of them: undo (the savepoint rolls back on error).
                return Err(StoreError::Conflict("generator arguments already taken".into()));
            }
            put_generator(tx, &next)?;
            put_graph_and_processes(tx, &graph)?;
            Ok(())
        })
        .await
        .map(|()| true)
        .or_else(|e| match e {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        })
    }

    async fn append_channel(
        &self,
        processid: &str,
        name: &str,
        entry: MsgEntry,
        limits: ChannelLimits,
    ) -> StoreResult<i64> {
        let (processid, name) = (processid.to_owned(), name.to_owned());
        self.tx(move |tx| {
            let (count, bytes, end): (i64, i64, i64) = tx
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(MAX(pos) + 1, 0)
                     FROM channel_entries WHERE processid = ?1 AND name = ?2",
                )
                .map_err(db_err)?
                .query_row([&processid, &name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db_err)?;
            let size = entry.payload.0.len() as i64;
            petri_store::ext::check_channel_limits(&name, count, bytes, size, limits)?;
            let mine: Vec<SenderSlot> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT pos, sequence FROM channel_entries
                         WHERE processid = ?1 AND name = ?2 AND senderid = ?3 AND sequence > ?4 ORDER BY pos",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![processid, name, entry.senderid, entry.sequence], |r| {
                        Ok(SenderSlot {
                            pos: r.get(0)?,
                            sequence: r.get(1)?,
                        })
                    })
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)?
            };
            let (pos, moves) = place_message(&mine, entry.sequence, end);
            // Move from the end backwards so no two entries of the sender share a position.
            for (from, to) in moves.iter().rev() {
                tx.execute(
                    "UPDATE channel_entries SET pos = ?4 WHERE processid = ?1 AND name = ?2 AND pos = ?3",
                    params![processid, name, from, to],
                )
                .map_err(db_err)?;
            }
            tx.execute(
                "INSERT INTO channel_entries (processid, name, pos, senderid, sequence, size, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    processid,
                    name,
                    pos,
                    entry.senderid,
                    entry.sequence,
                    size,
                    to_doc(&entry)?
                ],
            )
            .map_err(db_err)?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn read_channel(
        &self,
        processid: &str,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<StoredEntry>> {
        let (processid, name) = (processid.to_owned(), name.to_owned());
        let limit = if limit == 0 { -1 } else { limit as i64 };
        self.run(move |c| {
            stored_entries(
                c,
                "SELECT id, doc FROM channel_entries WHERE processid = ?1 AND name = ?2
                 ORDER BY pos LIMIT ?3 OFFSET ?4",
                params![processid, name, limit, offset as i64],
            )
        })
        .await
    }

    async fn channel_arrivals(&self, processid: &str, name: &str, after: i64) -> StoreResult<Vec<StoredEntry>> {
        let (processid, name) = (processid.to_owned(), name.to_owned());
        self.run(move |c| {
            stored_entries(
                c,
                "SELECT id, doc FROM channel_entries WHERE processid = ?1 AND name = ?2 AND id > ?3 ORDER BY id",
                params![processid, name, after],
            )
        })
        .await
    }

    async fn channel_last_arrival(&self, processid: &str, name: &str) -> StoreResult<i64> {
        let (processid, name) = (processid.to_owned(), name.to_owned());
        self.run(move |c| {
            c.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM channel_entries WHERE processid = ?1 AND name = ?2",
                [processid, name],
                |r| r.get(0),
            )
            .map_err(db_err)
        })
        .await
    }

    async fn sweep_channels(&self, closed_before: Timestamp) -> StoreResult<u64> {
        let before = closed_before.nanos().unwrap_or(0);
        self.tx(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM channel_entries WHERE processid IN (
                         SELECT DISTINCT c.processid FROM channel_entries c
                         LEFT JOIN processes p ON p.processid = c.processid
                         WHERE p.processid IS NULL OR (p.state IN (?1, ?2) AND p.endtime < ?3))",
                    params![state::SUCCESS, state::FAILED, before],
                )
                .map_err(db_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_file(&self, mut file: File) -> StoreResult<File> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO files (fileid, colonyname, label, name, doc) VALUES (?1, ?2, ?3, ?4, '')",
                params![file.fileid, file.colonyname, file.label, file.name],
            )
            .map_err(|e| write_err(e, "file"))?;
            file.sequencenr = tx.last_insert_rowid();
            tx.execute(
                "UPDATE files SET doc = ?2 WHERE seqnr = ?1",
                params![file.sequencenr, to_doc(&file)?],
            )
            .map_err(db_err)?;
            Ok(file)
        })
        .await
    }

    async fn get_file(&self, colony: &str, id: &str) -> StoreResult<Option<File>> {
        let (colony, id) = (colony.to_owned(), id.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM files WHERE colonyname = ?1 AND fileid = ?2",
                [colony, id],
            )
        })
        .await
    }

    async fn file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<Vec<File>> {
        let (colony, label, name) = (colony.to_owned(), label.to_owned(), name.to_owned());
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM files WHERE colonyname = ?1 AND label = ?2 AND name = ?3 ORDER BY seqnr DESC",
                [colony, label, name],
            )
        })
        .await
    }

    async fn files_under(&self, colony: &str, label: &str) -> StoreResult<Vec<File>> {
        let (colony, label) = (colony.to_owned(), label.to_owned());
        self.run(move |c| {
            // Labels are few per colony; the prefix test is exact in Rust
            // rather than a LIKE pattern that `%` or `_` in a label would break.
            let all: Vec<File> = docs(
                c,
                "SELECT doc FROM files WHERE colonyname = ?1 ORDER BY seqnr",
                [colony],
            )?;
            Ok(all.into_iter().filter(|f| label_covers(&label, &f.label)).collect())
        })
        .await
    }

    async fn file_labels(&self, colony: &str) -> StoreResult<Vec<(String, i64)>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT label, COUNT(*) FROM files WHERE colonyname = ?1 GROUP BY label ORDER BY label")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([colony], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn remove_file(&self, colony: &str, id: &str) -> StoreResult<bool> {
        let (colony, id) = (colony.to_owned(), id.to_owned());
        self.tx(move |tx| {
            Ok(tx
                .execute("DELETE FROM files WHERE colonyname = ?1 AND fileid = ?2", [colony, id])
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn remove_file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<u64> {
        let (colony, label, name) = (colony.to_owned(), label.to_owned(), name.to_owned());
        self.tx(move |tx| {
            Ok(tx
                .execute(
                    "DELETE FROM files WHERE colonyname = ?1 AND label = ?2 AND name = ?3",
                    [colony, label, name],
                )
                .map_err(db_err)? as u64)
        })
        .await
    }

    async fn add_snapshot(&self, snapshot: Snapshot) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO snapshots (snapshotid, colonyname, name, added, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    snapshot.snapshotid,
                    snapshot.colonyname,
                    snapshot.name,
                    snapshot.added.nanos(),
                    to_doc(&snapshot)?
                ],
            )
            .map_err(|e| write_err(e, "snapshot"))?;
            Ok(())
        })
        .await
    }

    async fn get_snapshot(&self, colony: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        let (colony, id) = (colony.to_owned(), id.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM snapshots WHERE colonyname = ?1 AND snapshotid = ?2",
                [colony, id],
            )
        })
        .await
    }

    async fn snapshot_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Snapshot>> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM snapshots WHERE colonyname = ?1 AND name = ?2",
                [colony, name],
            )
        })
        .await
    }

    async fn list_snapshots(&self, colony: &str) -> StoreResult<Vec<Snapshot>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM snapshots WHERE colonyname = ?1 ORDER BY added DESC, name",
                [colony],
            )
        })
        .await
    }

    async fn remove_snapshot(&self, colony: &str, id: &str) -> StoreResult<bool> {
        let (colony, id) = (colony.to_owned(), id.to_owned());
        self.tx(move |tx| {
            Ok(tx
                .execute(
                    "DELETE FROM snapshots WHERE colonyname = ?1 AND snapshotid = ?2",
                    [colony, id],
                )
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn remove_snapshots(&self, colony: &str) -> StoreResult<u64> {
        let colony = colony.to_owned();
        self.tx(move |tx| {
            Ok(tx
                .execute("DELETE FROM snapshots WHERE colonyname = ?1", [colony])
                .map_err(db_err)? as u64)
        })
        .await
    }

    async fn add_blueprint_definition(&self, d: BlueprintDefinition) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO blueprint_definitions (colonyname, name, kind, doc) VALUES (?1, ?2, ?3, ?4)",
                params![d.metadata.colonyname, d.metadata.name, d.declared_kind(), to_doc(&d)?],
            )
            .map_err(|e| write_err(e, "blueprint definition"))?;
            Ok(())
        })
        .await
    }

    async fn get_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<Option<BlueprintDefinition>> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM blueprint_definitions WHERE colonyname = ?1 AND name = ?2",
                [colony, name],
            )
        })
        .await
    }

    async fn list_blueprint_definitions(&self, colony: &str) -> StoreResult<Vec<BlueprintDefinition>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM blueprint_definitions WHERE colonyname = ?1 ORDER BY name",
                [colony],
            )
        })
        .await
    }

    async fn remove_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<bool> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.tx(move |tx| {
            Ok(tx
                .execute(
                    "DELETE FROM blueprint_definitions WHERE colonyname = ?1 AND name = ?2",
                    [colony, name],
                )
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn add_blueprint(&self, b: Blueprint, history: BlueprintHistory) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO blueprints (colonyname, name, blueprintid, kind, locationname, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    b.metadata.colonyname,
                    b.metadata.name,
                    b.blueprintid,
                    b.kind,
                    b.metadata.locationname,
                    to_doc(&b)?
                ],
            )
            .map_err(|e| write_err(e, "blueprint"))?;
            put_history(tx, &history)
        })
        .await
    }

    async fn get_blueprint(&self, colony: &str, name: &str) -> StoreResult<Option<Blueprint>> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM blueprints WHERE colonyname = ?1 AND name = ?2",
                [colony, name],
            )
        })
        .await
    }

    async fn blueprint_by_id(&self, id: &str) -> StoreResult<Option<Blueprint>> {
        let id = id.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM blueprints WHERE blueprintid = ?1", [id]))
            .await
    }

    async fn list_blueprints(
        &self,
        colony: &str,
        kind: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<Blueprint>> {
        let (colony, kind, location) = (colony.to_owned(), kind.map(str::to_owned), location.map(str::to_owned));
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM blueprints WHERE colonyname = ?1
                   AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR locationname = ?3) ORDER BY name",
                params![colony, kind, location],
            )
        })
        .await
    }

    async fn update_blueprint(&self, b: Blueprint, history: Option<BlueprintHistory>) -> StoreResult<()> {
        self.tx(move |tx| {
            let n = tx
                .execute(
                    "UPDATE blueprints SET kind = ?3, locationname = ?4, doc = ?5 WHERE colonyname = ?1 AND name = ?2",
                    params![
                        b.metadata.colonyname,
                        b.metadata.name,
                        b.kind,
                        b.metadata.locationname,
                        to_doc(&b)?
                    ],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("blueprint {} not found", b.metadata.name)));
            }
            if let Some(h) = &history {
                put_history(tx, h)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_blueprint(&self, colony: &str, name: &str) -> StoreResult<bool> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.tx(move |tx| {
            let id: Option<String> = tx
                .query_row(
                    "SELECT blueprintid FROM blueprints WHERE colonyname = ?1 AND name = ?2",
                    [&colony, &name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let Some(id) = id else { return Ok(false) };
            tx.execute("DELETE FROM blueprint_history WHERE blueprintid = ?1", [&id])
                .map_err(db_err)?;
            tx.execute("DELETE FROM blueprints WHERE blueprintid = ?1", [&id])
                .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn blueprint_history(&self, id: &str, limit: usize) -> StoreResult<Vec<BlueprintHistory>> {
        let id = id.to_owned();
        let limit = if limit == 0 { -1 } else { limit as i64 };
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM blueprint_history WHERE blueprintid = ?1 ORDER BY id DESC LIMIT ?2",
                params![id, limit],
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ext_conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("petri.db")).unwrap();
        petri_store::ext::conformance::run_all(Arc::new(store)).await;
    }
}
