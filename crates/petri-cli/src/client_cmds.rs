//! Client commands, mirroring the `colonies` CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_api::model::{
    Colony, FunctionSpec, Process, ProcessGraph, WorkflowSpec, executor_state_name, state, state_name,
};
use petri_api::msg::GetLogs;
use petri_crypto::PrivateKey;
use petri_sdk::{Client, Env};

use crate::output::{Output, join_values, kv, table};

struct Ctx {
    env: Env,
    client: Client,
}

fn ctx() -> anyhow::Result<Ctx> {
    let env = Env::from_env()?;
    let client = env.client();
    Ok(Ctx { env, client })
}

/// A spinner on stderr while waiting, when a person is watching.
fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[derive(Subcommand)]
pub(crate) enum ColonyCmd {
    /// Add a colony (needs COLONIES_SERVER_PRVKEY). Without --colonyid a new colony key is made and printed.
    Add {
        /// Colony name.
        #[arg(long)]
        name: String,
        /// The colony owner's id.
        #[arg(long)]
        colonyid: Option<String>,
    },
    /// List colonies (needs COLONIES_SERVER_PRVKEY).
    Ls,
    /// Remove a colony and everything in it (needs COLONIES_SERVER_PRVKEY).
    Rm {
        /// Colony name.
        #[arg(long)]
        name: String,
    },
}

pub(crate) async fn colony(cmd: ColonyCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let key = c.env.server_prvkey()?;
    match cmd {
        ColonyCmd::Add { name, colonyid } => {
            let (colonyid, new_key) = match colonyid {
                Some(id) => (id, None),
                None => {
                    let k = PrivateKey::generate();
                    (k.id(), Some(k))
                }
            };
            let colony = c.client.add_colony(Colony { colonyid, name }, &key).await?;
            let prvkey = new_key.as_ref().map(|k| k.to_hex().to_string());
            let json = serde_json::json!({"colony": colony, "colonyprvkey": prvkey});
            out.show(&json, || {
                outln!("Colony {} added with id {}", colony.name, colony.colonyid);
                if let Some(k) = &prvkey {
                    outln!("Colony private key (keep it secret): {k}");
                }
            })
        }
        ColonyCmd::Ls => {
            let colonies = c.client.get_colonies(&key).await?;
            out.show(&colonies, || {
                let mut t = table(&["NAME", "COLONY ID"]);
                for col in &colonies {
                    t.add_row(vec![col.name.clone(), col.colonyid.clone()]);
                }
                outln!("{t}");
            })
        }
        ColonyCmd::Rm { name } => {
            c.client.remove_colony(&name, &key).await?;
            out.show(&serde_json::json!({"removed": name}), || {
                outln!("Colony {name} removed")
            })
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum ExecutorCmd {
    /// List the colony's executors.
    Ls,
    /// Approve an executor (needs COLONIES_COLONY_PRVKEY).
    Approve(NameArg),
    /// Reject an executor (needs COLONIES_COLONY_PRVKEY).
    Reject(NameArg),
    /// Remove an executor; its running processes return to the queue (needs COLONIES_COLONY_PRVKEY).
    Rm(NameArg),
    /// Run the built-in Paillier data owner: answers with ciphertexts of a value, CSV column or SQL query.
    HeData(crate::he::HeDataArgs),
    /// Run the built-in Paillier aggregator: sums (and counts) the ciphertexts from its parents.
    HeAggregate(crate::he::HeAggregateArgs),
}

#[derive(Args)]
pub(crate) struct NameArg {
    /// Executor name.
    #[arg(long)]
    name: String,
}

pub(crate) async fn executor(cmd: ExecutorCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let colony = c.env.colony()?.to_owned();
    match cmd {
        ExecutorCmd::Ls => {
            let list = c.client.get_executors(&colony, &c.env.prvkey()?).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "TYPE", "STATE", "LAST HEARD FROM", "ID"]);
                for e in &list {
                    t.add_row(vec![
                        e.executorname.clone(),
                        e.executortype.clone(),
                        executor_state_name(e.state).to_owned(),
                        e.lastheardfromtime.human(),
                        e.executorid.clone(),
                    ]);
                }
                outln!("{t}");
            })
        }
        ExecutorCmd::Approve(a) => {
            c.client
                .approve_executor(&colony, &a.name, &c.env.colony_prvkey()?)
                .await?;
            out.show(&serde_json::json!({"approved": a.name}), || {
                outln!("Executor {} approved", a.name)
            })
        }
        ExecutorCmd::Reject(a) => {
            c.client
                .reject_executor(&colony, &a.name, &c.env.colony_prvkey()?)
                .await?;
            out.show(&serde_json::json!({"rejected": a.name}), || {
                outln!("Executor {} rejected", a.name)
            })
        }
        ExecutorCmd::Rm(a) => {
            c.client
                .remove_executor(&colony, &a.name, &c.env.colony_prvkey()?)
                .await?;
            out.show(&serde_json::json!({"removed": a.name}), || {
                outln!("Executor {} removed", a.name)
            })
        }
        ExecutorCmd::HeData(a) => crate::he::run_data(a).await,
        ExecutorCmd::HeAggregate(a) => crate::he::run_aggregate(a).await,
    }
}

#[derive(Subcommand)]
pub(crate) enum FunctionCmd {
    /// Submit a function spec (JSON file).
    Submit(SubmitArgs),
    /// List registered functions with call and timing statistics.
    Ls,
}

#[derive(Args)]
pub(crate) struct SubmitArgs {
    /// Path to the spec file.
    #[arg(long)]
    spec: PathBuf,
    /// Wait until it finishes and print the result.
    #[arg(long)]
    wait: bool,
    /// Seconds to wait with --wait.
    #[arg(long, default_value_t = 600)]
    timeout: i64,
}

fn read_json(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

async fn wait_and_show(c: &Ctx, p: &Process, timeout: i64, out: &Output) -> anyhow::Result<()> {
    let key = c.env.prvkey()?;
    let bar = spinner(&format!("waiting for process {}", p.processid));
    let done = c.client.wait(p, state::SUCCESS, timeout, &key).await;
    bar.finish_and_clear();
    let Some(_) = done? else {
        bail!("process {} did not finish within {timeout} s", p.processid)
    };
    let p = c.client.get_process(&p.processid, &key).await?;
    show_result(&p, out)
}

fn show_result(p: &Process, out: &Output) -> anyhow::Result<()> {
    out.show(p, || {
        outln!("Process {} {}", p.processid, state_name(p.state));
        if p.state == state::FAILED {
            outln!("Errors: {}", p.errors.join("; "));
        } else {
            outln!("Output: {}", join_values(&p.output));
        }
    })?;
    if p.state == state::FAILED {
        bail!("process {} failed: {}", p.processid, p.errors.join("; "));
    }
    Ok(())
}

pub(crate) async fn function(cmd: FunctionCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let key = c.env.prvkey()?;
    match cmd {
        FunctionCmd::Submit(args) => {
            let mut spec: FunctionSpec = serde_json::from_value(read_json(&args.spec)?)
                .with_context(|| format!("{} is not a function spec", args.spec.display()))?;
            if spec.conditions.colonyname.is_empty() {
                spec.conditions.colonyname = c.env.colony()?.to_owned();
            }
            let p = c.client.submit(spec, &key).await?;
            if args.wait {
                return wait_and_show(&c, &p, args.timeout, out).await;
            }
            out.show(&p, || outln!("Process {} submitted", p.processid))
        }
        FunctionCmd::Ls => {
            let list = c.client.get_functions(c.env.colony()?, "", &key).await?;
            out.show(&list, || {
                // One table per function name, summed over the executors serving it.
                let mut by_name: BTreeMap<&str, Vec<&petri_api::model::Function>> = BTreeMap::new();
                for f in &list {
                    by_name.entry(&f.funcname).or_default().push(f);
                }
                if by_name.is_empty() {
                    outln!("No functions registered");
                }
                for (name, fs) in by_name {
                    let calls: i64 = fs.iter().map(|f| f.counter).sum();
                    let called: Vec<_> = fs.iter().filter(|f| f.counter > 0).collect();
                    let fold = |pick: fn(&petri_api::model::Function) -> f64, min: bool| {
                        called
                            .iter()
                            .map(|f| pick(f))
                            .fold(
                                if min { f64::MAX } else { 0.0 },
                                |a, b| {
                                    if min { a.min(b) } else { a.max(b) }
                                },
                            )
                    };
                    let avg = |pick: fn(&petri_api::model::Function) -> f64| {
                        if calls == 0 {
                            0.0
                        } else {
                            called.iter().map(|f| pick(f) * f.counter as f64).sum::<f64>() / calls as f64
                        }
                    };
                    let secs = |v: f64| {
                        if calls == 0 {
                            "-".to_owned()
                        } else {
                            format!("{v:.6} s")
                        }
                    };
                    kv(
                        "Function",
                        &[
                            ("FuncName", name.to_owned()),
                            ("Calls", calls.to_string()),
                            ("Served by", format!("{} executors", fs.len())),
                            ("MinWaitTime", secs(fold(|f| f.minwaittime, true))),
                            ("MaxWaitTime", secs(fold(|f| f.maxwaittime, false))),
                            ("AvgWaitTime", secs(avg(|f| f.avgwaittime))),
                            ("MinExecTime", secs(fold(|f| f.minexectime, true))),
                            ("MaxExecTime", secs(fold(|f| f.maxexectime, false))),
                            ("AvgExecTime", secs(avg(|f| f.avgexectime))),
                        ],
                    );
                }
            })
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum WorkflowCmd {
    /// Submit a workflow: a JSON array of function specs (or `{colonyname, functionspecs}`).
    Submit(SubmitArgs),
    /// List workflows in a state (default: running).
    Ls {
        /// waiting, running, successful or failed.
        #[arg(long, default_value = "running")]
        state: String,
        /// At most this many (≤ 100).
        #[arg(long, default_value_t = 20)]
        count: i64,
    },
    /// Show a workflow and its processes.
    Get {
        /// Process graph id.
        #[arg(long, short = 'i')]
        id: String,
    },
}

fn parse_state(text: &str) -> anyhow::Result<i32> {
    Ok(match text {
        "waiting" | "0" => state::WAITING,
        "running" | "1" => state::RUNNING,
        "successful" | "success" | "2" => state::SUCCESS,
        "failed" | "3" => state::FAILED,
        other => bail!("unknown state {other:?}; use waiting, running, successful or failed"),
    })
}

fn workflow_spec(value: serde_json::Value, colony: &str) -> anyhow::Result<WorkflowSpec> {
    let mut spec: WorkflowSpec = if value.is_array() {
        WorkflowSpec {
            colonyname: colony.to_owned(),
            functionspecs: serde_json::from_value(value)?,
        }
    } else {
        serde_json::from_value(value)?
    };
    if spec.colonyname.is_empty() {
        spec.colonyname = colony.to_owned();
    }
    Ok(spec)
}

fn graph_rows(g: &ProcessGraph) -> Vec<(&'static str, String)> {
    vec![
        ("ID", g.processgraphid.clone()),
        ("State", state_name(g.state).to_owned()),
        ("Initiator", g.initiatorname.clone()),
        ("Submission", g.submissiontime.human()),
        ("Start", g.starttime.human()),
        ("End", g.endtime.human()),
        ("Processes", g.processids.len().to_string()),
    ]
}

pub(crate) async fn workflow(cmd: WorkflowCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let key = c.env.prvkey()?;
    match cmd {
        WorkflowCmd::Submit(args) => {
            let spec = workflow_spec(read_json(&args.spec)?, c.env.colony()?)
                .with_context(|| format!("{} is not a workflow spec", args.spec.display()))?;
            let g = c.client.submit_workflow(spec, &key).await?;
            if args.wait {
                let bar = spinner("waiting for the workflow");
                let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout.max(1) as u64);
                let g = loop {
                    let g = c.client.get_graph(&g.processgraphid, &key).await?;
                    if g.state == state::SUCCESS || g.state == state::FAILED {
                        break g;
                    }
                    if tokio::time::Instant::now() > deadline {
                        bar.finish_and_clear();
                        bail!("workflow {} did not finish within {} s", g.processgraphid, args.timeout);
                    }
                    // Follow the leaves over the websocket instead of polling the graph tightly.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                bar.finish_and_clear();
                out.show(&g, || kv("Workflow", &graph_rows(&g)))?;
                if g.state == state::FAILED {
                    bail!("workflow {} failed", g.processgraphid);
                }
                return Ok(());
            }
            out.show(&g, || outln!("Workflow {} submitted", g.processgraphid))
        }
        WorkflowCmd::Ls { state: s, count } => {
            let list = c
                .client
                .get_graphs(c.env.colony()?, parse_state(&s)?, count, &key)
                .await?;
            out.show(&list, || {
                let mut t = table(&["ID", "STATE", "INITIATOR", "SUBMISSION TIME", "PROCESSES"]);
                for g in &list {
                    t.add_row(vec![
                        g.processgraphid.clone(),
                        state_name(g.state).to_owned(),
                        g.initiatorname.clone(),
                        g.submissiontime.human(),
                        g.processids.len().to_string(),
                    ]);
                }
                outln!("{t}");
            })
        }
        WorkflowCmd::Get { id } => {
            let g = c.client.get_graph(&id, &key).await?;
            let mut processes = Vec::new();
            for pid in &g.processids {
                processes.push(c.client.get_process(pid, &key).await?);
            }
            let json = serde_json::json!({"processgraph": g, "processes": processes});
            out.show(&json, || {
                kv("Workflow", &graph_rows(&g));
                let mut t = table(&["NODE", "FUNC", "EXECUTOR TYPE", "STATE", "PROCESS ID"]);
                for p in &processes {
                    t.add_row(vec![
                        p.spec.nodename.clone(),
                        p.spec.funcname.clone(),
                        p.spec.conditions.executortype.clone(),
                        state_name(p.state).to_owned(),
                        p.processid.clone(),
                    ]);
                }
                outln!("Processes:\n{t}");
            })
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum ProcessCmd {
    /// List running processes.
    Ps(CountArg),
    /// List waiting processes.
    Psw(CountArg),
    /// List successful processes.
    Pss(CountArg),
    /// List failed processes.
    Psf(CountArg),
    /// Show one process.
    Get {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
    },
    /// Remove a process (not running, not part of a workflow).
    Rm {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
    },
}

#[derive(Args)]
pub(crate) struct CountArg {
    /// At most this many (≤ 100).
    #[arg(long, default_value_t = 20)]
    count: i64,
}

fn process_table(list: &[Process], s: i32) {
    let time_header = match s {
        state::WAITING => "SUBMISSION TIME",
        state::RUNNING => "START TIME",
        _ => "END TIME",
    };
    let mut t = table(&["ID", "FUNC", "ARGS", time_header, "EXECUTOR TYPE"]);
    for p in list {
        let time = match s {
            state::WAITING => p.submissiontime,
            state::RUNNING => p.starttime,
            _ => p.endtime,
        };
        t.add_row(vec![
            p.processid.clone(),
            p.spec.funcname.clone(),
            join_values(&p.spec.args),
            time.human(),
            p.spec.conditions.executortype.clone(),
        ]);
    }
    if list.is_empty() {
        outln!("No {} processes", state_name(s));
    } else {
        outln!("{t}");
    }
}

fn show_process(p: &Process) {
    let secs = |a: petri_api::Timestamp, b: petri_api::Timestamp| {
        if a.is_unset() || b.is_unset() {
            "-".to_owned()
        } else {
            format!("{:.6} s", a.secs_since(b))
        }
    };
    kv(
        "Process",
        &[
            ("ID", p.processid.clone()),
            ("IsAssigned", p.isassigned.to_string()),
            (
                "AssignedExecutorID",
                if p.assignedexecutorid.is_empty() {
                    "None".into()
                } else {
                    p.assignedexecutorid.clone()
                },
            ),
            ("State", state_name(p.state).to_owned()),
            ("Priority", p.spec.priority.to_string()),
            ("SubmissionTime", p.submissiontime.human()),
            ("StartTime", p.starttime.human()),
            ("EndTime", p.endtime.human()),
            ("WaitDeadline", p.waitdeadline.human()),
            ("ExecDeadline", p.execdeadline.human()),
            ("WaitingTime", secs(p.starttime, p.submissiontime)),
            ("ProcessingTime", secs(p.endtime, p.starttime)),
            ("Retries", p.retries.to_string()),
            ("Input", p.input.as_deref().map(join_values).unwrap_or_default()),
            ("Output", join_values(&p.output)),
            ("Errors", p.errors.join("; ")),
        ],
    );
    let s = &p.spec;
    kv(
        "FunctionSpec",
        &[
            ("Func", s.funcname.clone()),
            ("NodeName", s.nodename.clone()),
            ("Args", join_values(&s.args)),
            ("KwArgs", serde_json::Value::Object(s.kwargs.clone()).to_string()),
            ("MaxWaitTime", s.maxwaittime.to_string()),
            ("MaxExecTime", s.maxexectime.to_string()),
            ("MaxRetries", s.maxretries.to_string()),
            ("Priority", s.priority.to_string()),
        ],
    );
    let c = &s.conditions;
    kv(
        "Conditions",
        &[
            ("Colony", c.colonyname.clone()),
            (
                "ExecutorNames",
                c.executornames
                    .as_ref()
                    .map(|n| n.join(", "))
                    .unwrap_or_else(|| "None".into()),
            ),
            ("ExecutorType", c.executortype.clone()),
            ("Dependencies", c.dependencies.join(", ")),
        ],
    );
    if p.attributes.is_empty() {
        outln!("Attributes:\nNo attributes found");
    } else {
        let mut t = table(&["KEY", "VALUE", "TYPE", "ID"]);
        for a in &p.attributes {
            t.add_row(vec![
                a.key.clone(),
                a.value.clone(),
                a.attributetype.to_string(),
                a.attributeid.clone(),
            ]);
        }
        outln!("Attributes:\n{t}");
    }
}

pub(crate) async fn process(cmd: ProcessCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let key = c.env.prvkey()?;
    let list_state = match &cmd {
        ProcessCmd::Ps(a) => Some((state::RUNNING, a.count)),
        ProcessCmd::Psw(a) => Some((state::WAITING, a.count)),
        ProcessCmd::Pss(a) => Some((state::SUCCESS, a.count)),
        ProcessCmd::Psf(a) => Some((state::FAILED, a.count)),
        _ => None,
    };
    if let Some((s, count)) = list_state {
        let list = c.client.get_processes(c.env.colony()?, s, count, &key).await?;
        return out.show(&list, || process_table(&list, s));
    }
    match cmd {
        ProcessCmd::Get { processid } => {
            let p = c.client.get_process(&processid, &key).await?;
            out.show(&p, || show_process(&p))
        }
        ProcessCmd::Rm { processid } => {
            c.client.remove_process(&processid, &key).await?;
            out.show(&serde_json::json!({"removed": processid}), || {
                outln!("Process {processid} removed")
            })
        }
        _ => Ok(()),
    }
}

#[derive(Subcommand)]
pub(crate) enum LogCmd {
    /// Print a process's log lines.
    Get {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
        /// At most this many lines (≤ 500).
        #[arg(long, default_value_t = 100)]
        count: i64,
    },
}

pub(crate) async fn log(cmd: LogCmd, out: &Output) -> anyhow::Result<()> {
    let c = ctx()?;
    let key = c.env.prvkey()?;
    let LogCmd::Get { processid, count } = cmd;
    let msg = GetLogs {
        colonyname: c.env.colony.clone(),
        processid,
        count,
        ..GetLogs::default()
    };
    let logs = c.client.get_logs(msg, &key).await?;
    out.show(&logs, || {
        for l in &logs {
            let t = petri_api::Timestamp::from_nanos(l.timestamp).human();
            outln!("{t} {}: {}", l.executorname, l.message);
        }
    })
}
