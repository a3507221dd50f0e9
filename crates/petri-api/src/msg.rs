//! Request messages, one struct per `msgtype`.
#![allow(missing_docs)] // Field meanings are given in the protocol reference, section 4.

use serde::Serialize;
use serde_json::Value;

use crate::model::{Attribute, Colony, Executor, Function, FunctionSpec, User, WorkflowSpec};

/// A request message with its wire `msgtype`.
pub trait Message: Serialize {
    /// The `msgtype` (and envelope `payloadtype`) of this message.
    const MSGTYPE: &'static str;

    /// The message as a JSON object including its `msgtype`.
    fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("msgtype".into(), Value::String(Self::MSGTYPE.into()));
        }
        value
    }
}

macro_rules! message {
    ($(#[$m:meta])* $name:ident = $ty:literal { $($(#[$fm:meta])* $field:ident : $fty:ty),* $(,)? }) => {
        crate::lenient!($(#[$m])* $name { $($(#[$fm])* $field: $fty),* });
        impl Message for $name {
            const MSGTYPE: &'static str = $ty;
        }
    };
}

message!(AddColony = "addcolonymsg" { colony: Colony });
message!(RemoveColony = "removecolonymsg" { colonyname: String });
message!(GetColonies = "getcoloniesmsg" {});
message!(GetColony = "getcolonymsg" { colonyname: String });
message!(GetColonyStats = "getcolonystatsmsg" { colonyname: String });

message!(AddExecutor = "addexecutormsg" { executor: Executor });
message!(GetExecutors = "getexecutorsmsg" { colonyname: String });
message!(GetExecutor = "getexecutormsg" { colonyname: String, executorname: String });
message!(ApproveExecutor = "approveexecutormsg" { colonyname: String, executorname: String });
message!(RejectExecutor = "rejectexecutormsg" { colonyname: String, executorname: String });
message!(RemoveExecutor = "removeexecutormsg" { colonyname: String, executorname: String });

message!(AddFunction = "addfunctionmsg" { fun: Function });
message!(GetFunctions = "getfunctionsmsg" { colonyname: String, executorname: String });
message!(RemoveFunction = "removefunctionmsg" { functionid: String });

message!(SubmitFunctionSpec = "submitfuncspecmsg" { spec: FunctionSpec });
message!(AssignProcess = "assignprocessmsg" {
    colonyname: String,
    timeout: i64,
    availablecpu: String,
    availablemem: String,
});
message!(CloseSuccessful = "closesuccessfulmsg" { processid: String, out: Vec<Value> });
message!(CloseFailed = "closefailedmsg" { processid: String, errors: Vec<String> });
message!(SetOutput = "setoutputmsg" { processid: String, out: Vec<Value> });
message!(GetProcess = "getprocessmsg" { processid: String });
message!(GetProcesses = "getprocessesmsg" {
    colonyname: String,
    count: i64,
    state: i32,
    executortype: String,
    label: String,
    initiator: String,
});
message!(RemoveProcess = "removeprocessmsg" { processid: String, all: bool });
message!(RemoveAllProcesses = "removeallprocessesmsg" { colonyname: String, state: i32 });

message!(SubmitWorkflowSpec = "submitworkflowspecmsg" { spec: WorkflowSpec });
message!(GetProcessGraph = "getprocessgraphmsg" { processgraphid: String });
message!(GetProcessGraphs = "getprocessgraphsmsg" { colonyname: String, count: i64, state: i32 });
message!(RemoveProcessGraph = "removeprocessgraphmsg" { processgraphid: String, all: bool });
message!(RemoveAllProcessGraphs = "removeallprocessgraphsmsg" { colonyname: String, state: i32 });
message!(AddChild = "addchildmsg" {
    processgraphid: String,
    parentprocessid: String,
    childprocessid: String,
    insert: bool,
    spec: FunctionSpec,
});

message!(SubscribeProcess = "subscribeprocessmsg" {
    processid: String,
    executortype: String,
    state: i32,
    timeout: i64,
    colonyname: String,
});

message!(AddAttribute = "addattributemsg" { attribute: Attribute });
message!(GetAttribute = "getattributemsg" { attributeid: String });
message!(AddLog = "addlogmsg" { processid: String, message: String });
message!(GetLogs = "getlogsmsg" {
    colonyname: String,
    processid: String,
    executorname: String,
    count: i64,
    since: i64,
    latest: bool,
});

message!(AddUser = "addusermsg" { user: User });
message!(GetUsers = "getusersmsg" { colonyname: String });
message!(RemoveUser = "removeusermsg" { colonyname: String, name: String });

message!(GetVersion = "versionmsg" {});

/// A message that carries just a colony name (used when only that is needed).
pub type ColonyName = GetColony;

mod ext;
pub use ext::*;
