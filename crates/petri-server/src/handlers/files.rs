//! File metadata, labels and snapshots (protocol reference, section 4.10).
//! The bytes live in the S3-compatible store each file names; the broker
//! never touches them.

use std::collections::BTreeMap;

use petri_api::Timestamp;
use petri_api::model::{File, FileData, Label, Snapshot};
use petri_api::msg::{
    AddFile, CreateSnapshot, GetFile, GetFileLabels, GetFiles, GetSnapshot, GetSnapshots, RemoveAllSnapshots,
    RemoveFile, RemoveSnapshot,
};

use super::{check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

fn check_label(label: &str) -> RpcResult<()> {
    check_name("File label", label)
}

/// The newest version of each file (by label and name) among `files`.
fn latest(files: Vec<File>) -> Vec<File> {
    let mut newest: BTreeMap<(String, String), File> = BTreeMap::new();
    for f in files {
        let key = (f.label.clone(), f.name.clone());
        if newest.get(&key).is_none_or(|old| old.sequencenr < f.sequencenr) {
            newest.insert(key, f);
        }
    }
    newest.into_values().collect()
}

pub(crate) async fn add_file(state: &AppState, signer: &str, msg: AddFile) -> RpcResult<Vec<u8>> {
    let mut file = msg.file;
    state.require_member(signer, &file.colonyname).await?;
    check_label(&file.label)?;
    check_name("File name", &file.name)?;
    if file.size < 0 {
        return Err(RpcFailure::bad_request("Failed to add file, size must not be negative"));
    }
    let text = serde_json::to_vec(&file).map(|v| v.len()).unwrap_or(usize::MAX);
    if text > 64 * 1024 {
        return Err(RpcFailure::bad_request(
            "Failed to add file, the file record is too large",
        ));
    }
    file.fileid = petri_crypto::random_id();
    file.added = Timestamp::now();
    let stored = state.store.add_file(file).await?;
    json(&stored)
}

pub(crate) async fn get_file(state: &AppState, signer: &str, msg: GetFile) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let files = if !msg.fileid.is_empty() {
        state
            .store
            .get_file(&msg.colonyname, &msg.fileid)
            .await?
            .into_iter()
            .collect()
    } else if !msg.label.is_empty() && !msg.name.is_empty() {
        let mut versions = state
            .store
            .file_versions(&msg.colonyname, &msg.label, &msg.name)
            .await?;
        if msg.latest {
            versions.truncate(1);
        }
        versions
    } else {
        return Err(RpcFailure::bad_request(
            "malformatted get file msg: give a fileid, or a label and a name",
        ));
    };
    if files.is_empty() {
        return Err(RpcFailure::not_found("Failed to get file"));
    }
    json(&files)
}

pub(crate) async fn get_files(state: &AppState, signer: &str, msg: GetFiles) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let in_label = state
        .store
        .files_under(&msg.colonyname, &msg.label)
        .await?
        .into_iter()
        .filter(|f| f.label == msg.label)
        .collect();
    let data: Vec<FileData> = latest(in_label)
        .into_iter()
        .map(|f| FileData {
            name: f.name,
            checksum: f.checksum,
            size: f.size,
            s3filename: f.reference.s3object.object,
        })
        .collect();
    json(&data)
}

pub(crate) async fn get_file_labels(state: &AppState, signer: &str, msg: GetFileLabels) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let wanted = |label: &str| {
        if msg.name.is_empty() {
            true
        } else if msg.exact {
            petri_core::ext::label_covers(&msg.name, label)
        } else {
            label.starts_with(&msg.name)
        }
    };
    let labels: Vec<Label> = state
        .store
        .file_labels(&msg.colonyname)
        .await?
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, files)| Label { name, files })
        .collect();
    json(&labels)
}

pub(crate) async fn remove_file(state: &AppState, signer: &str, msg: RemoveFile) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let removed = if !msg.fileid.is_empty() {
        u64::from(state.store.remove_file(&msg.colonyname, &msg.fileid).await?)
    } else if !msg.label.is_empty() && !msg.name.is_empty() {
        state
            .store
            .remove_file_versions(&msg.colonyname, &msg.label, &msg.name)
            .await?
    } else {
        return Err(RpcFailure::bad_request(
            "malformatted remove file msg: give a fileid, or a label and a name",
        ));
    };
    if removed == 0 {
        return Err(RpcFailure::not_found("Failed to remove file, file not found"));
    }
    empty()
}

pub(crate) async fn create_snapshot(state: &AppState, signer: &str, msg: CreateSnapshot) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    check_name("Snapshot name", &msg.name)?;
    let label = msg.label.trim_end_matches('/').to_owned();
    check_label(&label)?;
    if state
        .store
        .snapshot_by_name(&msg.colonyname, &msg.name)
        .await?
        .is_some()
    {
        return Err(RpcFailure::bad_request(format!(
            "Snapshot with name <{}> in Colony <{}> already exists",
            msg.name, msg.colonyname
        )));
    }
    let files = latest(state.store.files_under(&msg.colonyname, &label).await?);
    let fileids: Vec<String> = files.into_iter().map(|f| f.fileid).collect();
    let snapshot = Snapshot {
        snapshotid: petri_crypto::random_id(),
        colonyname: msg.colonyname,
        label,
        name: msg.name,
        fileids: (!fileids.is_empty()).then_some(fileids),
        added: Timestamp::now(),
    };
    state.store.add_snapshot(snapshot.clone()).await?;
    json(&snapshot)
}

async fn find_snapshot(state: &AppState, colony: &str, id: &str, name: &str) -> RpcResult<Snapshot> {
    let found = if !id.is_empty() {
        state.store.get_snapshot(colony, id).await?
    } else if !name.is_empty() {
        state.store.snapshot_by_name(colony, name).await?
    } else {
        return Err(RpcFailure::bad_request("Give a snapshot id or name"));
    };
    found.ok_or_else(|| RpcFailure::not_found(format!("Snapshot not found in Colony <{colony}>")))
}

pub(crate) async fn get_snapshot(state: &AppState, signer: &str, msg: GetSnapshot) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    json(&find_snapshot(state, &msg.colonyname, &msg.snapshotid, &msg.name).await?)
}

pub(crate) async fn get_snapshots(state: &AppState, signer: &str, msg: GetSnapshots) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    json(&state.store.list_snapshots(&msg.colonyname).await?)
}

pub(crate) async fn remove_snapshot(state: &AppState, signer: &str, msg: RemoveSnapshot) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let s = find_snapshot(state, &msg.colonyname, &msg.snapshotid, &msg.name).await?;
    state.store.remove_snapshot(&msg.colonyname, &s.snapshotid).await?;
    empty()
}

pub(crate) async fn remove_all_snapshots(
    state: &AppState,
    signer: &str,
    msg: RemoveAllSnapshots,
) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    state.store.remove_snapshots(&msg.colonyname).await?;
    empty()
}
