//! Messages of the extended surface: crons, generators, files, snapshots,
//! channels and blueprints (protocol reference, sections 4.8 to 4.12).

use serde_json::{Map, Value};

use super::Message;
use crate::model::{Blueprint, BlueprintDefinition, Cron, File, Generator, Payload};

message!(AddCron = "addcronmsg" { cron: Cron });
message!(GetCron = "getcronmsg" { cronid: String });
message!(GetCrons = "getcronsmsg" { colonyname: String, count: i64 });
message!(RemoveCron = "removecronmsg" { cronid: String, all: bool });
message!(RunCron = "runcronmsg" { cronid: String });

message!(AddGenerator = "addgeneratormsg" { generator: Generator });
message!(GetGenerator = "getgeneratormsg" { generatorid: String });
message!(ResolveGenerator = "resolvegeneratormsg" { colonyname: String, generatorname: String });
message!(GetGenerators = "getgeneratorsmsg" { colonyname: String, count: i64 });
message!(RemoveGenerator = "removegeneratormsg" { generatorid: String, all: bool });
message!(PackGenerator = "packgeneratormsg" { generatorid: String, arg: String });

message!(AddFile = "addfilemsg" { file: File });
message!(GetFile = "getfilemsg" { colonyname: String, fileid: String, label: String, name: String, latest: bool });
message!(GetFiles = "getfilesmsg" { colonyname: String, label: String });
message!(GetFileLabels = "getfilelabelsmsg" { colonyname: String, name: String, exact: bool });
message!(RemoveFile = "removefilemsg" { colonyname: String, fileid: String, label: String, name: String });

message!(CreateSnapshot = "createsnapshotmsg" { colonyname: String, label: String, name: String });
message!(GetSnapshot = "getsnapshotmsg" { colonyname: String, snapshotid: String, name: String });
message!(GetSnapshots = "getsnapshotsmsg" { colonyname: String });
message!(RemoveSnapshot = "removesnapshotmsg" { colonyname: String, snapshotid: String, name: String });
message!(RemoveAllSnapshots = "removeallsnapshotmsg" { colonyname: String });

message!(ChannelAppend = "channelappendmsg" {
    processid: String,
    name: String,
    sequence: i64,
    inreplyto: i64,
    payload: Payload,
    payloadtype: String,
    error: String,
});
message!(ChannelRead = "channelreadmsg" { processid: String, name: String, afterseq: i64, limit: i64 });
message!(SubscribeChannel = "subscribechannelmsg" { processid: String, name: String, afterseq: i64, timeout: i64 });

message!(AddBlueprintDefinition = "addblueprintdefinitionmsg" { blueprintdefinition: BlueprintDefinition });
message!(GetBlueprintDefinition = "getblueprintdefinitionmsg" { colonyname: String, name: String });
message!(GetBlueprintDefinitions = "getblueprintdefinitionsmsg" { colonyname: String });
message!(RemoveBlueprintDefinition = "removeblueprintdefinitionmsg" { namespace: String, name: String });
message!(AddBlueprint = "addblueprintmsg" { blueprint: Blueprint });
message!(GetBlueprint = "getblueprintmsg" { namespace: String, name: String });
message!(GetBlueprints = "getblueprintsmsg" { namespace: String, kind: String, locationname: String });
message!(UpdateBlueprint = "updateblueprintmsg" { blueprint: Blueprint, forcegeneration: bool });
message!(RemoveBlueprint = "removeblueprintmsg" { namespace: String, name: String });
message!(UpdateBlueprintStatus = "updateblueprintstatusmsg" {
    colonyname: String,
    blueprintname: String,
    status: Map<String, Value>,
});
message!(ReconcileBlueprint = "reconcileblueprintmsg" { namespace: String, name: String, force: bool });
message!(GetBlueprintHistory = "getblueprinthistorymsg" { blueprintid: String, limit: i64 });
