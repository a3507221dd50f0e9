//! Storage of the extended surface: crons, generators and their packed
//! arguments, channel messages, file metadata, snapshots and blueprints.
//!
//! Every [`Store`](crate::Store) is also an [`ExtStore`], so a server holding
//! an `Arc<dyn Store>` reaches these operations directly. Removing a colony
//! removes all of these objects of that colony too.
//!
//! Firing a cron or a generator happens in one transaction with the graph it
//! submits ([`ExtStore::fire_cron`], [`ExtStore::fire_generator`]): the fire
//! is claimed against the record as it was read, so with several servers on
//! one database a schedule fires exactly once.

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Cron, File, Generator, MsgEntry, Process, ProcessGraph, Snapshot,
};

use crate::StoreResult;

/// A workflow to store together with a fire: its graph and processes.
pub type NewGraph = (ProcessGraph, Vec<Process>);

/// A packed generator argument, with its queue position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorArg {
    /// Position in the generator's queue (ascending in packing order).
    pub id: i64,
    /// The argument.
    pub arg: String,
}

/// Size limits of one channel, checked atomically with each append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Most messages a channel holds.
    pub max_entries: i64,
    /// Most payload bytes a channel holds in total.
    pub max_bytes: i64,
}

/// A channel message as stored: where it is, and in which order it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    /// Arrival number: strictly increasing across all channels of a store.
    pub id: i64,
    /// The message.
    pub entry: MsgEntry,
}

/// A channel got a message (`processid`, channel name): for servers sharing the store.
pub type ChannelEvent = (String, String);

/// Storage of the extended surface; see the module documentation.
#[async_trait]
pub trait ExtStore: Send + Sync {
    /// Adds a cron; `Conflict` if its id is taken.
    async fn add_cron(&self, cron: Cron) -> StoreResult<()>;
    /// A cron by id.
    async fn get_cron(&self, id: &str) -> StoreResult<Option<Cron>>;
    /// Crons of a colony by name, at most `count`.
    async fn list_crons(&self, colony: &str, count: usize) -> StoreResult<Vec<Cron>>;
    /// Crons whose next run is unset or not after `now` (the ones a duty loop must look at).
    async fn crons_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Cron>>;
    /// Removes a cron; false if there was none.
    async fn remove_cron(&self, id: &str) -> StoreResult<bool>;
    /// Replaces the cron `read` (as it was read) by `next`, and stores `graph`
    /// with it, in one transaction. Returns false, changing nothing, when the
    /// stored cron is no longer `read` (another server fired it, or it was
    /// removed or replaced).
    async fn fire_cron(&self, read: &Cron, next: Cron, graph: Option<NewGraph>) -> StoreResult<bool>;

    /// Adds a generator; `Conflict` if its id is taken.
    async fn add_generator(&self, generator: Generator) -> StoreResult<()>;
    /// A generator by id.
    async fn get_generator(&self, id: &str) -> StoreResult<Option<Generator>>;
    /// A generator of a colony by name.
    async fn generator_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Generator>>;
    /// Generators of a colony by name, at most `count`.
    async fn list_generators(&self, colony: &str, count: usize) -> StoreResult<Vec<Generator>>;
    /// Generators that have packed arguments queued.
    async fn generators_with_args(&self, limit: usize) -> StoreResult<Vec<Generator>>;
    /// Removes a generator and its queued arguments; false if there was none.
    async fn remove_generator(&self, id: &str) -> StoreResult<bool>;
    /// Queues an argument; sets the generator's first-pack time when unset.
    /// `NotFound` if the generator does not exist.
    async fn pack_generator(&self, id: &str, arg: String, now: Timestamp) -> StoreResult<()>;
    /// The oldest `limit` queued arguments, and how many are queued in all.
    async fn generator_args(&self, id: &str, limit: usize) -> StoreResult<(Vec<GeneratorArg>, i64)>;
    /// Takes the queued arguments `args` off the queue, replaces the
    /// generator by `next` and stores `graph`, in one transaction. Returns
    /// false, changing nothing, when any of `args` is no longer queued.
    async fn fire_generator(&self, next: Generator, args: &[GeneratorArg], graph: NewGraph) -> StoreResult<bool>;

    /// Appends a message to a channel of a process at the place
    /// [`petri_core::ext::place_message`] gives it; refuses (with a rule
    /// error) when the channel would exceed `limits`. Returns its arrival number.
    async fn append_channel(
        &self,
        processid: &str,
        name: &str,
        entry: MsgEntry,
        limits: ChannelLimits,
    ) -> StoreResult<i64>;
    /// Messages of a channel in log order, from index `offset`, at most `limit` (0: all).
    async fn read_channel(
        &self,
        processid: &str,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<StoredEntry>>;
    /// Messages of a channel that arrived after arrival number `after`, in arrival order.
    async fn channel_arrivals(&self, processid: &str, name: &str, after: i64) -> StoreResult<Vec<StoredEntry>>;
    /// The highest arrival number in a channel, 0 when it is empty.
    async fn channel_last_arrival(&self, processid: &str, name: &str) -> StoreResult<i64>;
    /// Deletes the messages of processes that no longer exist or closed
    /// before `closed_before`. Returns how many messages went.
    async fn sweep_channels(&self, closed_before: Timestamp) -> StoreResult<u64>;
    /// Channel appends made by other servers sharing this store, or `None`
    /// when the store is not shared.
    async fn listen_channels(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<ChannelEvent>>> {
        Ok(None)
    }

    /// Adds file metadata. The store sets `sequencenr` to a number higher
    /// than that of every file added before; returns the stored file.
    async fn add_file(&self, file: File) -> StoreResult<File>;
    /// A file of a colony by id.
    async fn get_file(&self, colony: &str, id: &str) -> StoreResult<Option<File>>;
    /// The versions of a file (label and name), highest sequence number first.
    async fn file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<Vec<File>>;
    /// The files of a colony whose label is `label` or lies under it.
    async fn files_under(&self, colony: &str, label: &str) -> StoreResult<Vec<File>>;
    /// The labels of a colony with their file-version counts, by label.
    async fn file_labels(&self, colony: &str) -> StoreResult<Vec<(String, i64)>>;
    /// Removes a file version by id; false if there was none.
    async fn remove_file(&self, colony: &str, id: &str) -> StoreResult<bool>;
    /// Removes all versions of a file; returns how many went.
    async fn remove_file_versions(&self, colony: &str, label: &str, name: &str) -> StoreResult<u64>;

    /// Adds a snapshot; `Conflict` if its name is taken in the colony.
    async fn add_snapshot(&self, snapshot: Snapshot) -> StoreResult<()>;
    /// A snapshot of a colony by id.
    async fn get_snapshot(&self, colony: &str, id: &str) -> StoreResult<Option<Snapshot>>;
    /// A snapshot of a colony by name.
    async fn snapshot_by_name(&self, colony: &str, name: &str) -> StoreResult<Option<Snapshot>>;
    /// Snapshots of a colony, newest first.
    async fn list_snapshots(&self, colony: &str) -> StoreResult<Vec<Snapshot>>;
    /// Removes a snapshot by id; false if there was none.
    async fn remove_snapshot(&self, colony: &str, id: &str) -> StoreResult<bool>;
    /// Removes every snapshot of a colony; returns how many went.
    async fn remove_snapshots(&self, colony: &str) -> StoreResult<u64>;

    /// Adds a blueprint definition; `Conflict` if its name is taken in the colony.
    async fn add_blueprint_definition(&self, definition: BlueprintDefinition) -> StoreResult<()>;
    /// A blueprint definition of a colony by name.
    async fn get_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<Option<BlueprintDefinition>>;
    /// The blueprint definitions of a colony, by name.
    async fn list_blueprint_definitions(&self, colony: &str) -> StoreResult<Vec<BlueprintDefinition>>;
    /// Removes a blueprint definition; false if there was none.
    async fn remove_blueprint_definition(&self, colony: &str, name: &str) -> StoreResult<bool>;
    /// Adds a blueprint and its first history record; `Conflict` if its name is taken in the colony.
    async fn add_blueprint(&self, blueprint: Blueprint, history: BlueprintHistory) -> StoreResult<()>;
    /// A blueprint of a colony by name.
    async fn get_blueprint(&self, colony: &str, name: &str) -> StoreResult<Option<Blueprint>>;
    /// A blueprint by id.
    async fn blueprint_by_id(&self, id: &str) -> StoreResult<Option<Blueprint>>;
    /// The blueprints of a colony, optionally of one kind and location, by name.
    async fn list_blueprints(
        &self,
        colony: &str,
        kind: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<Blueprint>>;
    /// Replaces a blueprint (matched by colony and name), recording `history`
    /// when given; `NotFound` if it does not exist.
    async fn update_blueprint(&self, blueprint: Blueprint, history: Option<BlueprintHistory>) -> StoreResult<()>;
    /// Removes a blueprint; false if there was none.
    async fn remove_blueprint(&self, colony: &str, name: &str) -> StoreResult<bool>;
    /// The history of a blueprint, newest first, at most `limit` (0: all).
    async fn blueprint_history(&self, id: &str, limit: usize) -> StoreResult<Vec<BlueprintHistory>>;
}

/// Refuses an append that would take a channel past its limits.
pub fn check_channel_limits(name: &str, count: i64, bytes: i64, size: i64, limits: ChannelLimits) -> StoreResult<()> {
    if count >= limits.max_entries {
        return Err(crate::StoreError::Rule(petri_core::CoreError::bad_request(format!(
            "Channel {name} is full: it holds {count} messages, the limit is {}",
            limits.max_entries
        ))));
    }
    if bytes + size > limits.max_bytes {
        return Err(crate::StoreError::Rule(petri_core::CoreError::bad_request(format!(
            "Channel {name} is full: {bytes} bytes stored and {size} more would pass the limit of {} bytes",
            limits.max_bytes
        ))));
    }
    Ok(())
}

pub mod conformance;
