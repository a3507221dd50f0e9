//! Calls of the extended surface: crons, generators, channels, files,
//! snapshots and blueprints.

use futures_util::{SinkExt, StreamExt};
use petri_api::ReplyEnvelope;
use petri_api::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Cron, File, FileData, Generator, Label, MsgEntry, Payload,
    Process, Snapshot,
};
use petri_api::msg::*;
use petri_crypto::PrivateKey;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::decode_reply;
use crate::{Client, SdkError, SdkResult};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A channel subscription over the websocket: batches of messages as the
/// server pushes them (first the existing ones, then each new one).
pub struct ChannelSubscription {
    socket: Option<Socket>,
}

impl ChannelSubscription {
    /// The next batch of messages; `None` once the subscription has ended
    /// (its timeout passed, or the channel's process closed).
    pub async fn next(&mut self) -> SdkResult<Option<Vec<MsgEntry>>> {
        let Some(socket) = self.socket.as_mut() else {
            return Ok(None);
        };
        loop {
            let frame = match socket.next().await {
                None => return self.end(),
                Some(Err(e)) => return Err(SdkError::Transport(e.to_string())),
                Some(Ok(frame)) => frame,
            };
            let text = match frame {
                WsMessage::Text(t) => t.to_string(),
                WsMessage::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                WsMessage::Close(_) => return self.end(),
                _ => continue,
            };
            let reply: ReplyEnvelope = serde_json::from_str(&text).map_err(|e| SdkError::Decode(e.to_string()))?;
            let entries: Option<Vec<MsgEntry>> = decode_reply(&reply)?;
            return match entries {
                Some(e) if !e.is_empty() => Ok(Some(e)),
                _ => self.end(),
            };
        }
    }

    fn end(&mut self) -> SdkResult<Option<Vec<MsgEntry>>> {
        self.socket = None;
        Ok(None)
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        if let Some(mut s) = self.socket.take() {
            let _ = s.close(None).await;
        }
    }
}

impl Client {
    async fn list<M: Message, T: DeserializeOwned>(&self, msg: &M, key: &PrivateKey) -> SdkResult<Vec<T>> {
        self.call::<M, Option<Vec<T>>>(msg, key)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Adds a cron (member); the server sets its id and initiator.
    pub async fn add_cron(&self, cron: Cron, key: &PrivateKey) -> SdkResult<Cron> {
        self.call(&AddCron { cron }, key).await
    }
    /// A cron by id.
    pub async fn get_cron(&self, cronid: &str, key: &PrivateKey) -> SdkResult<Cron> {
        self.call(&GetCron { cronid: cronid.into() }, key).await
    }
    /// Up to `count` crons of a colony.
    pub async fn get_crons(&self, colonyname: &str, count: i64, key: &PrivateKey) -> SdkResult<Vec<Cron>> {
        let msg = GetCrons {
            colonyname: colonyname.into(),
            count,
        };
        self.list(&msg, key).await
    }
    /// Removes a cron.
    pub async fn remove_cron(&self, cronid: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = RemoveCron {
            cronid: cronid.into(),
            all: false,
        };
        self.call_empty(&msg, key).await
    }
    /// Starts a cron's workflow now (unless it waits for an unfinished previous run).
    pub async fn run_cron(&self, cronid: &str, key: &PrivateKey) -> SdkResult<Cron> {
        self.call(&RunCron { cronid: cronid.into() }, key).await
    }

    /// Adds a generator (member).
    pub async fn add_generator(&self, generator: Generator, key: &PrivateKey) -> SdkResult<Generator> {
        self.call(&AddGenerator { generator }, key).await
    }
    /// A generator by id, with its queue size.
    pub async fn get_generator(&self, generatorid: &str, key: &PrivateKey) -> SdkResult<Generator> {
        let msg = GetGenerator {
            generatorid: generatorid.into(),
        };
        self.call(&msg, key).await
    }
    /// A generator by colony and name.
    pub async fn resolve_generator(&self, colonyname: &str, name: &str, key: &PrivateKey) -> SdkResult<Generator> {
        let msg = ResolveGenerator {
            colonyname: colonyname.into(),
            generatorname: name.into(),
        };
        self.call(&msg, key).await
    }
    /// Up to `count` generators of a colony.
    pub async fn get_generators(&self, colonyname: &str, count: i64, key: &PrivateKey) -> SdkResult<Vec<Generator>> {
        let msg = GetGenerators {
            colonyname: colonyname.into(),
            count,
        };
        self.list(&msg, key).await
    }
    /// Removes a generator and its queued arguments.
    pub async fn remove_generator(&self, generatorid: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = RemoveGenerator {
            generatorid: generatorid.into(),
            all: false,
        };
        self.call_empty(&msg, key).await
    }
    /// Queues an argument for a generator's next workflow.
    pub async fn pack_generator(&self, generatorid: &str, arg: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = PackGenerator {
            generatorid: generatorid.into(),
            arg: arg.into(),
        };
        self.call_empty(&msg, key).await
    }

    /// Appends a message to a channel of a process (its submitter or executor).
    /// `payloadtype` is `""`/`"data"`, `"end"` or `"error"`.
    #[allow(clippy::too_many_arguments)] // One argument per protocol field.
    pub async fn channel_append(
        &self,
        processid: &str,
        name: &str,
        sequence: i64,
        inreplyto: i64,
        payload: &[u8],
        payloadtype: &str,
        key: &PrivateKey,
    ) -> SdkResult<()> {
        let msg = ChannelAppend {
            processid: processid.into(),
            name: name.into(),
            sequence,
            inreplyto,
            payload: Payload(payload.to_vec()),
            payloadtype: payloadtype.into(),
            error: String::new(),
        };
        self.call_empty(&msg, key).await
    }
    /// Messages of a channel from index `afterseq`, at most `limit` (0: all).
    pub async fn channel_read(
        &self,
        processid: &str,
        name: &str,
        afterseq: i64,
        limit: i64,
        key: &PrivateKey,
    ) -> SdkResult<Vec<MsgEntry>> {
        let msg = ChannelRead {
            processid: processid.into(),
            name: name.into(),
            afterseq,
            limit,
        };
        self.list(&msg, key).await
    }
    /// Subscribes to a channel over the websocket for `timeout_secs` (0: the server's 30 s).
    pub async fn subscribe_channel(
        &self,
        processid: &str,
        name: &str,
        afterseq: i64,
        timeout_secs: i64,
        key: &PrivateKey,
    ) -> SdkResult<ChannelSubscription> {
        let msg = SubscribeChannel {
            processid: processid.into(),
            name: name.into(),
            afterseq,
            timeout: timeout_secs,
        };
        let text =
            serde_json::to_string(&self.envelope(&msg, key).await?).map_err(|e| SdkError::Decode(e.to_string()))?;
        let mut socket = self.pubsub().await?;
        socket
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        Ok(ChannelSubscription { socket: Some(socket) })
    }

    /// Adds file metadata (the bytes must already be in the object store it names).
    pub async fn add_file(&self, file: File, key: &PrivateKey) -> SdkResult<File> {
        self.call(&AddFile { file }, key).await
    }
    /// A file by id, or the versions of a file (label and name; only the newest when `latest`).
    pub async fn get_file(&self, msg: GetFile, key: &PrivateKey) -> SdkResult<Vec<File>> {
        self.list(&msg, key).await
    }
    /// The newest version of each file under exactly `label`.
    pub async fn get_files(&self, colonyname: &str, label: &str, key: &PrivateKey) -> SdkResult<Vec<FileData>> {
        let msg = GetFiles {
            colonyname: colonyname.into(),
            label: label.into(),
        };
        self.list(&msg, key).await
    }
    /// File labels with their counts: all (`name` empty), by prefix, or `name` and below when `exact`.
    pub async fn get_file_labels(
        &self,
        colonyname: &str,
        name: &str,
        exact: bool,
        key: &PrivateKey,
    ) -> SdkResult<Vec<Label>> {
        let msg = GetFileLabels {
            colonyname: colonyname.into(),
            name: name.into(),
            exact,
        };
        self.list(&msg, key).await
    }
    /// Removes a file version by id, or every version of a file (label and name).
    pub async fn remove_file(&self, msg: RemoveFile, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(&msg, key).await
    }

    /// Snapshots the newest version of every file under `label`.
    pub async fn create_snapshot(
        &self,
        colonyname: &str,
        label: &str,
        name: &str,
        key: &PrivateKey,
    ) -> SdkResult<Snapshot> {
        let msg = CreateSnapshot {
            colonyname: colonyname.into(),
            label: label.into(),
            name: name.into(),
        };
        self.call(&msg, key).await
    }
    /// A snapshot by id, or by name when the id is empty.
    pub async fn get_snapshot(
        &self,
        colonyname: &str,
        snapshotid: &str,
        name: &str,
        key: &PrivateKey,
    ) -> SdkResult<Snapshot> {
        let msg = GetSnapshot {
            colonyname: colonyname.into(),
            snapshotid: snapshotid.into(),
            name: name.into(),
        };
        self.call(&msg, key).await
    }
    /// The snapshots of a colony, newest first.
    pub async fn get_snapshots(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<Vec<Snapshot>> {
        let msg = GetSnapshots {
            colonyname: colonyname.into(),
        };
        self.list(&msg, key).await
    }
    /// Removes a snapshot by id, or by name when the id is empty.
    pub async fn remove_snapshot(
        &self,
        colonyname: &str,
        snapshotid: &str,
        name: &str,
        key: &PrivateKey,
    ) -> SdkResult<()> {
        let msg = RemoveSnapshot {
            colonyname: colonyname.into(),
            snapshotid: snapshotid.into(),
            name: name.into(),
        };
        self.call_empty(&msg, key).await
    }
    /// Removes every snapshot of a colony.
    pub async fn remove_all_snapshots(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = RemoveAllSnapshots {
            colonyname: colonyname.into(),
        };
        self.call_empty(&msg, key).await
    }

    /// Adds a blueprint definition (colony owner).
    pub async fn add_blueprint_definition(
        &self,
        definition: BlueprintDefinition,
        key: &PrivateKey,
    ) -> SdkResult<BlueprintDefinition> {
        let msg = AddBlueprintDefinition {
            blueprintdefinition: definition,
        };
        self.call(&msg, key).await
    }
    /// A blueprint definition by name.
    pub async fn get_blueprint_definition(
        &self,
        colonyname: &str,
        name: &str,
        key: &PrivateKey,
    ) -> SdkResult<BlueprintDefinition> {
        let msg = GetBlueprintDefinition {
            colonyname: colonyname.into(),
            name: name.into(),
        };
        self.call(&msg, key).await
    }
    /// The blueprint definitions of a colony.
    pub async fn get_blueprint_definitions(
        &self,
        colonyname: &str,
        key: &PrivateKey,
    ) -> SdkResult<Vec<BlueprintDefinition>> {
        let msg = GetBlueprintDefinitions {
            colonyname: colonyname.into(),
        };
        self.list(&msg, key).await
    }
    /// Removes a blueprint definition (colony owner); refused while blueprints of its kind exist.
    pub async fn remove_blueprint_definition(&self, colonyname: &str, name: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = RemoveBlueprintDefinition {
            namespace: colonyname.into(),
            name: name.into(),
        };
        self.call_empty(&msg, key).await
    }
    /// Adds a blueprint of a defined kind.
    pub async fn add_blueprint(&self, blueprint: Blueprint, key: &PrivateKey) -> SdkResult<Blueprint> {
        self.call(&AddBlueprint { blueprint }, key).await
    }
    /// A blueprint by name.
    pub async fn get_blueprint(&self, colonyname: &str, name: &str, key: &PrivateKey) -> SdkResult<Blueprint> {
        let msg = GetBlueprint {
            namespace: colonyname.into(),
            name: name.into(),
        };
        self.call(&msg, key).await
    }
    /// The blueprints of a colony, optionally of one kind and location (empty: any).
    pub async fn get_blueprints(
        &self,
        colonyname: &str,
        kind: &str,
        locationname: &str,
        key: &PrivateKey,
    ) -> SdkResult<Vec<Blueprint>> {
        let msg = GetBlueprints {
            namespace: colonyname.into(),
            kind: kind.into(),
            locationname: locationname.into(),
        };
        self.list(&msg, key).await
    }
    /// Replaces a blueprint; its generation grows when its spec changed or `force`.
    pub async fn update_blueprint(&self, blueprint: Blueprint, force: bool, key: &PrivateKey) -> SdkResult<Blueprint> {
        let msg = UpdateBlueprint {
            blueprint,
            forcegeneration: force,
        };
        self.call(&msg, key).await
    }
    /// Removes a blueprint.
    pub async fn remove_blueprint(&self, colonyname: &str, name: &str, key: &PrivateKey) -> SdkResult<()> {
        let msg = RemoveBlueprint {
            namespace: colonyname.into(),
            name: name.into(),
        };
        self.call_empty(&msg, key).await
    }
    /// Replaces a blueprint's status.
    pub async fn update_blueprint_status(
        &self,
        colonyname: &str,
        name: &str,
        status: Map<String, Value>,
        key: &PrivateKey,
    ) -> SdkResult<()> {
        let msg = UpdateBlueprintStatus {
            colonyname: colonyname.into(),
            blueprintname: name.into(),
            status,
        };
        self.call_empty(&msg, key).await
    }
    /// Submits a process reconciling a blueprint (its definition needs a handler).
    pub async fn reconcile_blueprint(
        &self,
        colonyname: &str,
        name: &str,
        force: bool,
        key: &PrivateKey,
    ) -> SdkResult<Process> {
        let msg = ReconcileBlueprint {
            namespace: colonyname.into(),
            name: name.into(),
            force,
        };
        self.call(&msg, key).await
    }
    /// A blueprint's history, newest first, at most `limit` (0: all).
    pub async fn get_blueprint_history(
        &self,
        blueprintid: &str,
        limit: i64,
        key: &PrivateKey,
    ) -> SdkResult<Vec<BlueprintHistory>> {
        let msg = GetBlueprintHistory {
            blueprintid: blueprintid.into(),
            limit,
        };
        self.list(&msg, key).await
    }
}
