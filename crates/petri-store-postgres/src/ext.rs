//! [`ExtStore`] on PostgreSQL (`migrations/0002_ext.sql`), for several
//! servers sharing one database:
//!
//! * a cron or generator fire locks the record, checks it is still the one
//!   the firing server read, and stores the new graph in the same
//!   transaction, so a schedule fires once however many servers look;
//! * appends to one channel are serialised by a transaction-level advisory
//!   lock on the channel, so arrival numbers within a channel are committed
//!   in order and a subscriber that reads "everything after N" misses nothing;
//! * each append sends a `NOTIFY` so subscribers on other servers wake.

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Cron, File, Generator, MsgEntry, Snapshot, state,
};
use petri_core::ext::{SenderSlot, label_covers, place_message};
use petri_store::ext::{ChannelEvent, ChannelLimits, ExtStore, GeneratorArg, NewGraph, StoredEntry};
use petri_store::{StoreError, StoreResult};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, Row};
use tokio::sync::mpsc;

use super::{Notes, PgStore, db_err, parse_doc, parse_docs, put_graph, put_process, to_doc, write_err};

/// The notification channel for channel appends.
const CHANNELS: &str = "petri_channel_events";

async fn put_graph_and_processes(conn: &mut PgConnection, store: &PgStore, graph: &NewGraph) -> StoreResult<()> {
    put_graph(conn, &graph.0).await?;
    let mut notes = Notes::new(&store.replica, store.channel(crate::CHANNEL));
    for p in &graph.1 {
        put_process(conn, p, None).await?;
        if !p.waitforparents {
            notes.ready(p);
        }
    }
    notes.send(conn).await
}

fn stored(rows: Vec<sqlx::postgres::PgRow>) -> StoreResult<Vec<StoredEntry>> {
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0).map_err(db_err)?;
            let text: String = r.try_get(1).map_err(db_err)?;
            Ok(StoredEntry {
                id,
                entry: serde_json::from_str(&text).map_err(db_err)?,
            })
        })
        .collect()
}

async fn put_history(conn: &mut PgConnection, h: &BlueprintHistory) -> StoreResult<()> {
    sqlx::query("INSERT INTO blueprint_history (blueprintid, doc) VALUES ($1, $2)")
        .bind(&h.blueprintid)
        .bind(to_doc(h)?)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn parse_channel_note(payload: &str, own: &str) -> Option<ChannelEvent> {
    let (replica, rest) = payload.split_once('\n')?;
    if replica == own {
        return None;
    }
    let (processid, name) = rest.split_once('\t')?;
    Some((processid.to_owned(), name.to_owned()))
}

#[async_trait]
impl ExtStore for PgStore {
    async fn add_cron(&self, cron: Cron) -> StoreResult<()> {
        sqlx::query("INSERT INTO crons (cronid, colonyname, name, nextrun, doc) VALUES ($1, $2, $3, $4, $5)")
            .bind(&cron.cronid)
            .bind(&cron.colonyname)
            .bind(&cron.name)
            .bind(cron.nextrun.nanos())
            .bind(to_doc(&cron)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "cron"))?;
        Ok(())
    }

    async fn get_cron(&self, id: &str) -> StoreResult<Option<Cron>> {
        self.doc("SELECT doc FROM crons WHERE cronid = $1", &[id]).await
    }

    async fn list_crons(&self, colony: &str, count: usize) -> StoreResult<Vec<Cron>> {
        let rows = sqlx::query("SELECT doc FROM crons WHERE colonyname = $1 ORDER BY name, cronid LIMIT $2")
            .bind(colony)
            .bind(count as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn crons_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Cron>> {
        let rows = sqlx::query(
            "SELECT doc FROM crons WHERE nextrun IS NULL OR nextrun <= $1 ORDER BY nextrun NULLS FIRST LIMIT $2",
        )
        .bind(now.nanos().unwrap_or(0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn remove_cron(&self, id: &str) -> StoreResult<bool> {
        Ok(self.exec("DELETE FROM crons WHERE cronid = $1", &[id]).await? > 0)
    }

    async fn fire_cron(&self, read: &Cron, next: Cron, graph: Option<NewGraph>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let stored: Option<Cron> = parse_doc(
            sqlx::query("SELECT doc FROM crons WHERE cronid = $1 FOR UPDATE")
                .bind(&read.cronid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?,
        )?;
        if stored.as_ref() != Some(read) {
            return Ok(false);
        }
        sqlx::query("UPDATE crons SET nextrun = $2, doc = $3 WHERE cronid = $1")
            .bind(&next.cronid)
            .bind(next.nextrun.nanos())
            .bind(to_doc(&next)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(g) = &graph {
            put_graph_and_processes(&mut tx, self, g).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn add_generator(&self, g: Generator) -> StoreResult<()> {
        sqlx::query("INSERT INTO generators (generatorid, colonyname, name, doc) VALUES ($1, $2, $3, $4)")
            .bind(&g.generatorid)
            .bind(&g.colonyname)
            .bind(&g.name)
            .bind(to_doc(&g)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "generator"))?;
        Ok(())
    }

    async fn get_generator(&self, id: &str) -> StoreResult<Option<Generator>> {
        self.doc("SELECT doc FROM generators WHERE generatorid = $1", &[id])
            .await
    }

    async fn generator_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Generator>> {
        self.doc(
            "SELECT doc FROM generators WHERE colonyname = $1 AND name = $2 ORDER BY generatorid LIMIT 1",
            &[colony, name],
        )
        .await
    }

    async fn list_generators(&self, colony: &str, count: usize) -> StoreResult<Vec<Generator>> {
        let rows = sqlx::query("SELECT doc FROM generators WHERE colonyname = $1 ORDER BY name, generatorid LIMIT $2")
            .bind(colony)
            .bind(count as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn generators_with_args(&self, limit: usize) -> StoreResult<Vec<Generator>> {
        let rows = sqlx::query(
            "SELECT doc FROM generators WHERE generatorid IN (SELECT DISTINCT generatorid FROM generator_args)
             LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn remove_generator(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("DELETE FROM generator_args WHERE generatorid = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM generators WHERE generatorid = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    async fn pack_generator(&self, id: &str, arg: String, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut g: Generator = parse_doc(
            sqlx::query("SELECT doc FROM generators WHERE generatorid = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?,
        )?
        .ok_or_else(|| StoreError::NotFound(format!("generator {id} not found")))?;
        sqlx::query("INSERT INTO generator_args (generatorid, arg) VALUES ($1, $2)")
            .bind(id)
            .bind(arg)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if g.firstpack.is_unset() {
            g.firstpack = now;
            sqlx::query("UPDATE generators SET doc = $2 WHERE generatorid = $1")
                .bind(id)
                .bind(to_doc(&g)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn generator_args(&self, id: &str, limit: usize) -> StoreResult<(Vec<GeneratorArg>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM generator_args WHERE generatorid = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query("SELECT id, arg FROM generator_args WHERE generatorid = $1 ORDER BY id LIMIT $2")
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let args = rows
            .iter()
            .map(|r| {
                Ok(GeneratorArg {
                    id: r.try_get(0).map_err(db_err)?,
                    arg: r.try_get(1).map_err(db_err)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((args, total))
    }

    async fn fire_generator(&self, next: Generator, args: &[GeneratorArg], graph: NewGraph) -> StoreResult<bool> {
        let ids: Vec<i64> = args.iter().map(|a| a.id).collect();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A concurrent fire holding these rows makes this wait, then delete nothing.
        let taken = sqlx::query("DELETE FROM generator_args WHERE id = ANY($1) AND generatorid = $2")
            .bind(&ids)
            .bind(&next.generatorid)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if taken != ids.len() as u64 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        sqlx::query("UPDATE generators SET doc = $2 WHERE generatorid = $1")
            .bind(&next.generatorid)
            .bind(to_doc(&next)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        put_graph_and_processes(&mut tx, self, &graph).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn append_channel(
        &self,
        processid: &str,
        name: &str,
        entry: MsgEntry,
        limits: ChannelLimits,
    ) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))")
            .bind(processid)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT, COALESCE(MAX(pos) + 1, 0)
             FROM channel_entries WHERE processid = $1 AND name = $2",
        )
        .bind(processid)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let (count, bytes, end): (i64, i64, i64) = (
            row.try_get(0).map_err(db_err)?,
            row.try_get(1).map_err(db_err)?,
            row.try_get(2).map_err(db_err)?,
        );
        let size = entry.payload.0.len() as i64;
        petri_store::ext::check_channel_limits(name, count, bytes, size, limits)?;
        let mine: Vec<SenderSlot> = sqlx::query(
            "SELECT pos, sequence FROM channel_entries
             WHERE processid = $1 AND name = $2 AND senderid = $3 AND sequence > $4 ORDER BY pos",
        )
        .bind(processid)
        .bind(name)
        .bind(&entry.senderid)
        .bind(entry.sequence)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(SenderSlot {
                pos: r.try_get(0).map_err(db_err)?,
                sequence: r.try_get(1).map_err(db_err)?,
            })
        })
        .collect::<StoreResult<_>>()?;
        let (pos, moves) = place_message(&mine, entry.sequence, end);
        for (from, to) in moves.iter().rev() {
            sqlx::query("UPDATE channel_entries SET pos = $4 WHERE processid = $1 AND name = $2 AND pos = $3")
                .bind(processid)
                .bind(name)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channel_entries (processid, name, pos, senderid, sequence, size, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(processid)
        .bind(name)
        .bind(pos)
        .bind(&entry.senderid)
        .bind(entry.sequence)
        .bind(size)
        .bind(to_doc(&entry)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(self.channel(CHANNELS))
            .bind(format!("{}\n{processid}\t{name}", self.replica))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn read_channel(
        &self,
        processid: &str,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<StoredEntry>> {
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = sqlx::query(
            "SELECT id, doc FROM channel_entries WHERE processid = $1 AND name = $2 ORDER BY pos LIMIT $3 OFFSET $4",
        )
        .bind(processid)
        .bind(name)
        .bind(limit)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        stored(rows)
    }

    async fn channel_arrivals(&self, processid: &str, name: &str, after: i64) -> StoreResult<Vec<StoredEntry>> {
        let rows = sqlx::query(
            "SELECT id, doc FROM channel_entries WHERE processid = $1 AND name = $2 AND id > $3 ORDER BY id",
        )
        .bind(processid)
        .bind(name)
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        stored(rows)
    }

    async fn channel_last_arrival(&self, processid: &str, name: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM channel_entries WHERE processid = $1 AND name = $2")
            .bind(processid)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn sweep_channels(&self, closed_before: Timestamp) -> StoreResult<u64> {
        let n = sqlx::query(
            "DELETE FROM channel_entries WHERE processid IN (
                 SELECT DISTINCT c.processid FROM channel_entries c
                 LEFT JOIN processes p ON p.processid = c.processid
                 WHERE p.processid IS NULL OR (p.state IN ($1, $2) AND p.endtime < $3))",
        )
        .bind(state::SUCCESS)
        .bind(state::FAILED)
        .bind(closed_before.nanos().unwrap_or(0))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n)
    }

    async fn listen_channels(&self) -> StoreResult<Option<mpsc::Receiver<ChannelEvent>>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_err)?;
        listener.listen(&self.channel(CHANNELS)).await.map_err(db_err)?;
        let (tx, rx) = mpsc::channel(1024);
        let own = self.replica.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(event) = parse_channel_note(n.payload(), &own)
                            && tx.send(event).await.is_err()
                        {
                            return;
                        }
                    }
                    // Reconnected: subscribers also poll, so a missed note only delays them.
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the PostgreSQL channel notifications, retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    async fn add_file(&self, mut file: File) -> StoreResult<File> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        file.sequencenr = sqlx::query_scalar(
            "INSERT INTO files (fileid, colonyname, label, name, doc) VALUES ($1, $2, $3, $4, '') RETURNING seqnr",
        )
        .bind(&file.fileid)
        .bind(&file.colonyname)
        .bind(&file.label)
        .bind(&file.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| write_err(e, "file"))?;
        sqlx::query("UPDATE files SET doc = $2 WHERE seqnr = $1")
            .bind(file.sequencenr)
            .bind(to_doc(&file)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(file)
    }

    async fn get_file(&self, colony: &str, id: &str) -> StoreResult<Option<File>> {
        self.doc(
            "SELECT doc FROM files WHERE colonyname = $1 AND fileid = $2",
            &[colony, id],
        )
        .await
    }

    async fn file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<Vec<File>> {
        self.docs(
            "SELECT doc FROM files WHERE colonyname = $1 AND label = $2 AND name = $3 ORDER BY seqnr DESC",
            &[colony, label, name],
        )
        .await
    }

    async fn files_under(&self, colony: &str, label: &str) -> StoreResult<Vec<File>> {
        let all: Vec<File> = self
            .docs("SELECT doc FROM files WHERE colonyname = $1 ORDER BY seqnr", &[colony])
            .await?;
        Ok(all.into_iter().filter(|f| label_covers(label, &f.label)).collect())
    }

    async fn file_labels(&self, colony: &str) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT label, COUNT(*) FROM files WHERE colonyname = $1 GROUP BY label ORDER BY label COLLATE \"C\"",
        )
        .bind(colony)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
            .collect()
    }

    async fn remove_file(&self, colony: &str, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec("DELETE FROM files WHERE colonyname = $1 AND fileid = $2", &[colony, id])
            .await?
            > 0)
    }

    async fn remove_file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM files WHERE colonyname = $1 AND label = $2 AND name = $3",
            &[colony, label, name],
        )
        .await
    }

    async fn add_snapshot(&self, s: Snapshot) -> StoreResult<()> {
        sqlx::query("INSERT INTO snapshots (snapshotid, colonyname, name, added, doc) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.snapshotid)
            .bind(&s.colonyname)
            .bind(&s.name)
            .bind(s.added.nanos())
            .bind(to_doc(&s)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "snapshot"))?;
        Ok(())
    }

    async fn get_snapshot(&self, colony: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        self.doc(
            "SELECT doc FROM snapshots WHERE colonyname = $1 AND snapshotid = $2",
            &[colony, id],
        )
        .await
    }

    async fn snapshot_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Snapshot>> {
        self.doc(
            "SELECT doc FROM snapshots WHERE colonyname = $1 AND name = $2",
            &[colony, name],
        )
        .await
    }

    async fn list_snapshots(&self, colony: &str) -> StoreResult<Vec<Snapshot>> {
        self.docs(
            "SELECT doc FROM snapshots WHERE colonyname = $1 ORDER BY added DESC, name",
            &[colony],
        )
        .await
    }

    async fn remove_snapshot(&self, colony: &str, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                "DELETE FROM snapshots WHERE colonyname = $1 AND snapshotid = $2",
                &[colony, id],
            )
            .await?
            > 0)
    }

    async fn remove_snapshots(&self, colony: &str) -> StoreResult<u64> {
        self.exec("DELETE FROM snapshots WHERE colonyname = $1", &[colony])
            .await
    }

    async fn add_blueprint_definition(&self, d: BlueprintDefinition) -> StoreResult<()> {
        sqlx::query("INSERT INTO blueprint_definitions (colonyname, name, kind, doc) VALUES ($1, $2, $3, $4)")
            .bind(&d.metadata.colonyname)
            .bind(&d.metadata.name)
            .bind(d.declared_kind())
            .bind(to_doc(&d)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "blueprint definition"))?;
        Ok(())
    }

    async fn get_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<Option<BlueprintDefinition>> {
        self.doc(
            "SELECT doc FROM blueprint_definitions WHERE colonyname = $1 AND name = $2",
            &[colony, name],
        )
        .await
    }

    async fn list_blueprint_definitions(&self, colony: &str) -> StoreResult<Vec<BlueprintDefinition>> {
        self.docs(
            "SELECT doc FROM blueprint_definitions WHERE colonyname = $1 ORDER BY name COLLATE \"C\"",
            &[colony],
        )
        .await
    }

    async fn remove_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                "DELETE FROM blueprint_definitions WHERE colonyname = $1 AND name = $2",
                &[colony, name],
            )
            .await?
            > 0)
    }

    async fn add_blueprint(&self, b: Blueprint, history: BlueprintHistory) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO blueprints (colonyname, name, blueprintid, kind, locationname, doc)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&b.metadata.colonyname)
        .bind(&b.metadata.name)
        .bind(&b.blueprintid)
        .bind(&b.kind)
        .bind(&b.metadata.locationname)
        .bind(to_doc(&b)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_err(e, "blueprint"))?;
        put_history(&mut tx, &history).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_blueprint(&self, colony: &str, name: &str) -> StoreResult<Option<Blueprint>> {
        self.doc(
            "SELECT doc FROM blueprints WHERE colonyname = $1 AND name = $2",
            &[colony, name],
        )
        .await
    }

    async fn blueprint_by_id(&self, id: &str) -> StoreResult<Option<Blueprint>> {
        self.doc("SELECT doc FROM blueprints WHERE blueprintid = $1", &[id])
            .await
    }

    async fn list_blueprints(
        &self,
        colony: &str,
        kind: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<Blueprint>> {
        let rows = sqlx::query(
            "SELECT doc FROM blueprints WHERE colonyname = $1
               AND ($2::TEXT IS NULL OR kind = $2) AND ($3::TEXT IS NULL OR locationname = $3)
             ORDER BY name COLLATE \"C\"",
        )
        .bind(colony)
        .bind(kind)
        .bind(location)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn update_blueprint(&self, b: Blueprint, history: Option<BlueprintHistory>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let n = sqlx::query(
            "UPDATE blueprints SET kind = $3, locationname = $4, doc = $5 WHERE colonyname = $1 AND name = $2",
        )
        .bind(&b.metadata.colonyname)
        .bind(&b.metadata.name)
        .bind(&b.kind)
        .bind(&b.metadata.locationname)
        .bind(to_doc(&b)?)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("blueprint {} not found", b.metadata.name)));
        }
        if let Some(h) = &history {
            put_history(&mut tx, h).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn remove_blueprint(&self, colony: &str, name: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let id: Option<String> =
            sqlx::query_scalar("DELETE FROM blueprints WHERE colonyname = $1 AND name = $2 RETURNING blueprintid")
                .bind(colony)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(id) = id else { return Ok(false) };
        sqlx::query("DELETE FROM blueprint_history WHERE blueprintid = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn blueprint_history(&self, id: &str, limit: usize) -> StoreResult<Vec<BlueprintHistory>> {
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = sqlx::query("SELECT doc FROM blueprint_history WHERE blueprintid = $1 ORDER BY id DESC LIMIT $2")
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        parse_docs(rows)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn store() -> Option<PgStore> {
        let Ok(url) = std::env::var("PETRI_TEST_DATABASE_URL") else {
            eprintln!("PETRI_TEST_DATABASE_URL is not set: skipping the PostgreSQL extension store tests");
            return None;
        };
        let schema = format!("petri_x_{}", &petri_crypto::random_id()[..12]);
        Some(
            PgStore::connect_schema(&url, &schema)
                .await
                .expect("PETRI_TEST_DATABASE_URL is set but unusable"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ext_conformance() {
        let Some(store) = store().await else { return };
        petri_store::ext::conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_reach_other_servers() {
        let Some(a) = store().await else { return };
        let b = PgStore::connect_with(a.options.clone()).await.unwrap();
        let mut rx = b
            .listen_channels()
            .await
            .unwrap()
            .expect("a shared store announces appends");
        let limits = ChannelLimits {
            max_entries: 10,
            max_bytes: 100,
        };
        a.append_channel("p", "c", MsgEntry::default(), limits).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the note arrives")
            .unwrap();
        assert_eq!(got, ("p".to_owned(), "c".to_owned()));
        assert_eq!(parse_channel_note("me\np\tc", "me"), None, "own notes are skipped");
    }
}
