//! `petri user|cron|generator|channel|blueprint|snapshot|file`: the rest of
//! the Colonies surface from the shell. Member calls sign with
//! `COLONIES_PRVKEY`, colony-owner calls with `COLONIES_COLONY_PRVKEY`.
//! File bytes stay in the S3-compatible store a file names (pycolonies's
//! upload and download, or any S3 tool, move them); these commands manage
//! the metadata.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_api::model::{Blueprint, BlueprintDefinition, Cron, Generator, MsgEntry, Snapshot, User, WorkflowSpec};
use petri_api::msg::{GetFile, RemoveFile};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, Env};

use crate::output::{Output, kv, table};

struct Ctx {
    env: Env,
    client: Client,
}

impl Ctx {
    fn new() -> anyhow::Result<Self> {
        let env = Env::from_env()?;
        let client = env.client();
        Ok(Self { env, client })
    }
    fn colony(&self) -> anyhow::Result<String> {
        Ok(self.env.colony()?.to_owned())
    }
    fn key(&self) -> anyhow::Result<PrivateKey> {
        Ok(self.env.prvkey()?)
    }
    fn owner_key(&self) -> anyhow::Result<PrivateKey> {
        Ok(self.env.colony_prvkey()?)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

/// A workflow file (a JSON array of function specs, or `{colonyname, functionspecs}`) as the JSON text crons and generators carry.
fn workflow_text(path: &PathBuf, colony: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = read_json(path, "JSON")?;
    let mut spec: WorkflowSpec = if value.is_array() {
        WorkflowSpec {
            colonyname: colony.to_owned(),
            functionspecs: serde_json::from_value(value)?,
        }
    } else {
        serde_json::from_value(value).with_context(|| format!("{} is not a workflow spec", path.display()))?
    };
    if spec.colonyname.is_empty() {
        spec.colonyname = colony.to_owned();
    }
    Ok(serde_json::to_string(&spec)?)
}

fn done(out: &Output, json: serde_json::Value, text: &str) -> anyhow::Result<()> {
    out.show(&json, || outln!("{text}"))
}

// ------------------------------------------------------------------------------------------------ users

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user: a member who submits and reads but does not execute (needs COLONIES_COLONY_PRVKEY).
    /// Without --userid a new user key is made and printed.
    Add {
        /// User name.
        #[arg(long)]
        name: String,
        /// The user's id (SHA3-256 of its public key).
        #[arg(long)]
        userid: Option<String>,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
        /// Phone number.
        #[arg(long, default_value = "")]
        phone: String,
    },
    /// List the colony's users.
    Ls,
    /// Remove a user (needs COLONIES_COLONY_PRVKEY).
    Rm {
        /// User name.
        #[arg(long)]
        name: String,
    },
}

pub(crate) async fn user(cmd: UserCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let colony = c.colony()?;
    match cmd {
        UserCmd::Add {
            name,
            userid,
            email,
            phone,
        } => {
            let (userid, new_key) = match userid {
                Some(id) => (id, None),
                None => {
                    let k = PrivateKey::generate();
                    (k.id(), Some(k))
                }
            };
            let user = User {
                colonyname: colony,
                userid,
                name,
                email,
                phone,
            };
            let user = c.client.add_user(user, &c.owner_key()?).await?;
            let prvkey = new_key.as_ref().map(|k| k.to_hex().to_string());
            out.show(&serde_json::json!({"user": user, "prvkey": prvkey}), || {
                outln!("User {} added with id {}", user.name, user.userid);
                if let Some(k) = &prvkey {
                    outln!("User private key (keep it secret): {k}");
                }
            })
        }
        UserCmd::Ls => {
            let users = c.client.get_users(&colony, &c.key()?).await?;
            out.show(&users, || {
                let mut t = table(&["NAME", "EMAIL", "PHONE", "USER ID"]);
                for u in &users {
                    t.add_row(vec![u.name.clone(), u.email.clone(), u.phone.clone(), u.userid.clone()]);
                }
                outln!("{t}");
            })
        }
        UserCmd::Rm { name } => {
            c.client.remove_user(&colony, &name, &c.owner_key()?).await?;
            done(
                out,
                serde_json::json!({"removed": name}),
                &format!("User {name} removed"),
            )
        }
    }
}

// ------------------------------------------------------------------------------------------------ crons

#[derive(Subcommand)]
pub(crate) enum CronCmd {
    /// Add a cron that submits a workflow on a schedule.
    Add(CronAddArgs),
    /// List the colony's crons.
    Ls(ListArgs),
    /// Show one cron.
    Get(IdArg),
    /// Remove a cron.
    Rm(IdArg),
    /// Start a cron's workflow now.
    Run(IdArg),
}

#[derive(Args)]
pub(crate) struct CronAddArgs {
    /// Cron name.
    #[arg(long)]
    name: String,
    /// Workflow file: a JSON array of function specs, or `{colonyname, functionspecs}`.
    #[arg(long)]
    spec: PathBuf,
    /// Cron expression with seconds, e.g. "0 */5 * * * *" (every five minutes).
    #[arg(long, conflicts_with = "interval", required_unless_present = "interval")]
    cron: Option<String>,
    /// Run every this many seconds instead.
    #[arg(long)]
    interval: Option<i64>,
    /// With --interval: run at a random second within each interval.
    #[arg(long, requires = "interval")]
    random: bool,
    /// Start a run only when the previous one has finished.
    #[arg(long)]
    wait_for_prev: bool,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    count: i64,
}

#[derive(Args)]
pub(crate) struct IdArg {
    /// Id.
    #[arg(long, short = 'i')]
    id: String,
}

fn cron_rows(c: &Cron) -> Vec<(&'static str, String)> {
    let schedule = if c.interval > 0 {
        format!("every {} s{}", c.interval, if c.random { " (random)" } else { "" })
    } else {
        c.cronexpression.clone()
    };
    vec![
        ("ID", c.cronid.clone()),
        ("Name", c.name.clone()),
        ("Schedule", schedule),
        ("Wait for previous", c.waitforprevprocessgraph.to_string()),
        ("Next run", c.nextrun.human()),
        ("Last run", c.lastrun.human()),
        ("Previous workflow", c.prevprocessgraphid.clone()),
        ("Initiator", c.initiatorname.clone()),
    ]
}

pub(crate) async fn cron(cmd: CronCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let key = c.key()?;
    match cmd {
        CronCmd::Add(a) => {
            let colony = c.colony()?;
            let cron = Cron {
                colonyname: colony.clone(),
                name: a.name,
                cronexpression: a.cron.unwrap_or_default(),
                interval: a.interval.unwrap_or(-1),
                random: a.random,
                waitforprevprocessgraph: a.wait_for_prev,
                workflowspec: workflow_text(&a.spec, &colony)?,
                ..Cron::default()
            };
            let cron = c.client.add_cron(cron, &key).await?;
            out.show(&cron, || {
                outln!("Cron {} added, next run {}", cron.cronid, cron.nextrun.human())
            })
        }
        CronCmd::Ls(a) => {
            let list = c.client.get_crons(&c.colony()?, a.count, &key).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "ID"]);
                for cr in &list {
                    let rows = cron_rows(cr);
                    t.add_row(vec![
                        cr.name.clone(),
                        rows[2].1.clone(),
                        cr.nextrun.human(),
                        cr.lastrun.human(),
                        cr.cronid.clone(),
                    ]);
                }
                if list.is_empty() {
                    outln!("No crons");
                } else {
                    outln!("{t}");
                }
            })
        }
        CronCmd::Get(a) => {
            let cr = c.client.get_cron(&a.id, &key).await?;
            out.show(&cr, || kv("Cron", &cron_rows(&cr)))
        }
        CronCmd::Rm(a) => {
            c.client.remove_cron(&a.id, &key).await?;
            done(
                out,
                serde_json::json!({"removed": a.id}),
                &format!("Cron {} removed", a.id),
            )
        }
        CronCmd::Run(a) => {
            let cr = c.client.run_cron(&a.id, &key).await?;
            out.show(&cr, || {
                outln!("Cron {} started workflow {}", cr.cronid, cr.prevprocessgraphid)
            })
        }
    }
}

// ------------------------------------------------------------------------------------------------ generators

#[derive(Subcommand)]
pub(crate) enum GeneratorCmd {
    /// Add a generator: submits its workflow with packed arguments as the roots' args.
    Add {
        /// Generator name.
        #[arg(long)]
        name: String,
        /// Workflow file: a JSON array of function specs, or `{colonyname, functionspecs}`.
        #[arg(long)]
        spec: PathBuf,
        /// Submit once this many arguments are packed.
        #[arg(long)]
        trigger: i64,
        /// Or, with fewer packed, this many seconds after the first pack or the last run (0: never).
        #[arg(long, default_value_t = 0)]
        timeout: i64,
    },
    /// List the colony's generators.
    Ls(ListArgs),
    /// Show one generator.
    Get(IdArg),
    /// Remove a generator and its packed arguments.
    Rm(IdArg),
    /// Pack an argument for the next workflow.
    Pack {
        /// Generator id.
        #[arg(long, short = 'i')]
        id: String,
        /// The argument.
        #[arg(long)]
        arg: String,
    },
}

fn generator_rows(g: &Generator) -> Vec<(&'static str, String)> {
    vec![
        ("ID", g.generatorid.clone()),
        ("Name", g.name.clone()),
        ("Trigger", g.trigger.to_string()),
        ("Timeout", format!("{} s", g.timeout)),
        ("Queued", g.queuesize.to_string()),
        ("First pack", g.firstpack.human()),
        ("Last run", g.lastrun.human()),
        ("Initiator", g.initiatorname.clone()),
    ]
}

pub(crate) async fn generator(cmd: GeneratorCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let key = c.key()?;
    match cmd {
        GeneratorCmd::Add {
            name,
            spec,
            trigger,
            timeout,
        } => {
            let colony = c.colony()?;
            let g = Generator {
                colonyname: colony.clone(),
                name,
                workflowspec: workflow_text(&spec, &colony)?,
                trigger,
                timeout,
                ..Generator::default()
            };
            let g = c.client.add_generator(g, &key).await?;
            out.show(&g, || outln!("Generator {} added", g.generatorid))
        }
        GeneratorCmd::Ls(a) => {
            let list = c.client.get_generators(&c.colony()?, a.count, &key).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "TRIGGER", "TIMEOUT", "QUEUED", "LAST RUN", "ID"]);
                for g in &list {
                    t.add_row(vec![
                        g.name.clone(),
                        g.trigger.to_string(),
                        format!("{} s", g.timeout),
                        g.queuesize.to_string(),
                        g.lastrun.human(),
                        g.generatorid.clone(),
                    ]);
                }
                if list.is_empty() {
                    outln!("No generators");
                } else {
                    outln!("{t}");
                }
            })
        }
        GeneratorCmd::Get(a) => {
            let g = c.client.get_generator(&a.id, &key).await?;
            out.show(&g, || kv("Generator", &generator_rows(&g)))
        }
        GeneratorCmd::Rm(a) => {
            c.client.remove_generator(&a.id, &key).await?;
            done(
                out,
                serde_json::json!({"removed": a.id}),
                &format!("Generator {} removed", a.id),
            )
        }
        GeneratorCmd::Pack { id, arg } => {
            c.client.pack_generator(&id, &arg, &key).await?;
            done(out, serde_json::json!({"packed": arg}), "Argument packed")
        }
    }
}

// ------------------------------------------------------------------------------------------------ channels

#[derive(Subcommand)]
pub(crate) enum ChannelCmd {
    /// Append a message to a channel of a process (as its submitter or executor).
    Append {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
        /// Channel name.
        #[arg(long)]
        name: String,
        /// Your sequence number for this message.
        #[arg(long)]
        seq: i64,
        /// The sequence number this message answers.
        #[arg(long, default_value_t = 0)]
        reply_to: i64,
        /// The message text.
        #[arg(long, default_value = "")]
        text: String,
        /// data, end or error.
        #[arg(long, default_value = "data")]
        r#type: String,
    },
    /// Print a channel's messages.
    Read {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
        /// Channel name.
        #[arg(long)]
        name: String,
        /// Start at this index of the log.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 0)]
        limit: i64,
    },
    /// Print messages as they arrive until the timeout or the process closes.
    Subscribe {
        /// Process id.
        #[arg(long, short = 'p')]
        processid: String,
        /// Channel name.
        #[arg(long)]
        name: String,
        /// Start at this index of the log.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Seconds to listen.
        #[arg(long, default_value_t = 30)]
        timeout: i64,
    },
}

fn entry_row(e: &MsgEntry) -> Vec<String> {
    vec![
        e.sequence.to_string(),
        if e.inreplyto == 0 {
            String::new()
        } else {
            e.inreplyto.to_string()
        },
        e.kind.clone(),
        e.timestamp.human(),
        e.senderid.chars().take(12).collect(),
        String::from_utf8_lossy(&e.payload.0).into_owned(),
    ]
}

const ENTRY_HEADER: [&str; 6] = ["SEQ", "REPLY TO", "TYPE", "TIME", "SENDER", "PAYLOAD"];

pub(crate) async fn channel(cmd: ChannelCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let key = c.key()?;
    match cmd {
        ChannelCmd::Append {
            processid,
            name,
            seq,
            reply_to,
            text,
            r#type,
        } => {
            c.client
                .channel_append(&processid, &name, seq, reply_to, text.as_bytes(), &r#type, &key)
                .await?;
            done(out, serde_json::json!({"appended": seq}), "Message appended")
        }
        ChannelCmd::Read {
            processid,
            name,
            after,
            limit,
        } => {
            let list = c.client.channel_read(&processid, &name, after, limit, &key).await?;
            out.show(&list, || {
                let mut t = table(&ENTRY_HEADER);
                for e in &list {
                    t.add_row(entry_row(e));
                }
                outln!("{t}");
            })
        }
        ChannelCmd::Subscribe {
            processid,
            name,
            after,
            timeout,
        } => {
            let mut sub = c
                .client
                .subscribe_channel(&processid, &name, after, timeout, &key)
                .await?;
            let limit = Duration::from_secs(timeout.max(1) as u64 + 5);
            let deadline = tokio::time::Instant::now() + limit;
            while let Ok(batch) = tokio::time::timeout_at(deadline, sub.next()).await {
                let Some(batch) = batch? else { break };
                for e in &batch {
                    if out.json {
                        outln!("{}", serde_json::to_string(e)?);
                    } else {
                        outln!("{}", entry_row(e).join("  "));
                    }
                }
            }
            sub.close().await;
            Ok(())
        }
    }
}

// ------------------------------------------------------------------------------------------------ blueprints

#[derive(Subcommand)]
pub(crate) enum BlueprintCmd {
    /// Add a blueprint definition from a JSON file (needs COLONIES_COLONY_PRVKEY).
    DefAdd(SpecArg),
    /// List the colony's blueprint definitions.
    DefLs,
    /// Show a blueprint definition.
    DefGet(BpName),
    /// Remove a blueprint definition (needs COLONIES_COLONY_PRVKEY).
    DefRm(BpName),
    /// Add a blueprint from a JSON file.
    Add(SpecArg),
    /// List blueprints, optionally of one kind.
    Ls {
        /// Only this kind.
        #[arg(long, default_value = "")]
        kind: String,
        /// Only at this location.
        #[arg(long, default_value = "")]
        location: String,
    },
    /// Show a blueprint.
    Get(BpName),
    /// Replace a blueprint from a JSON file.
    Update {
        /// Path to the blueprint file.
        #[arg(long)]
        spec: PathBuf,
        /// Start a new generation even if the spec is unchanged.
        #[arg(long)]
        force: bool,
    },
    /// Remove a blueprint.
    Rm(BpName),
    /// Replace a blueprint's status from a JSON file.
    Status {
        /// Blueprint name.
        #[arg(long)]
        name: String,
        /// Path to the status (a JSON object).
        #[arg(long)]
        spec: PathBuf,
    },
    /// Submit a reconcile process for a blueprint.
    Reconcile {
        /// Blueprint name.
        #[arg(long)]
        name: String,
        /// Start a new generation first.
        #[arg(long)]
        force: bool,
    },
    /// Show a blueprint's history.
    History {
        /// Blueprint id.
        #[arg(long, short = 'i')]
        id: String,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 0)]
        limit: i64,
    },
}

#[derive(Args)]
pub(crate) struct SpecArg {
    /// Path to the JSON file.
    #[arg(long)]
    spec: PathBuf,
}

#[derive(Args)]
pub(crate) struct BpName {
    /// Name.
    #[arg(long)]
    name: String,
}

fn blueprint_table(list: &[Blueprint]) {
    let mut t = table(&["NAME", "KIND", "LOCATION", "GENERATION", "ID"]);
    for b in list {
        t.add_row(vec![
            b.metadata.name.clone(),
            b.kind.clone(),
            b.metadata.locationname.clone(),
            b.metadata.generation.to_string(),
            b.blueprintid.clone(),
        ]);
    }
    if list.is_empty() {
        outln!("No blueprints");
    } else {
        outln!("{t}");
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub(crate) async fn blueprint(cmd: BlueprintCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let colony = c.colony()?;
    match cmd {
        BlueprintCmd::DefAdd(a) => {
            let mut d: BlueprintDefinition = read_json(&a.spec, "a blueprint definition")?;
            if d.metadata.colonyname.is_empty() {
                d.metadata.colonyname = colony;
            }
            let d = c.client.add_blueprint_definition(d, &c.owner_key()?).await?;
            out.show(&d, || {
                outln!(
                    "Blueprint definition {} for kind {} added",
                    d.metadata.name,
                    d.declared_kind()
                )
            })
        }
        BlueprintCmd::DefLs => {
            let list = c.client.get_blueprint_definitions(&colony, &c.key()?).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "KIND", "HANDLER", "ID"]);
                for d in &list {
                    let handler = d.handler().map(|(t, f)| format!("{t}/{f}")).unwrap_or_default();
                    t.add_row(vec![
                        d.metadata.name.clone(),
                        d.declared_kind().to_owned(),
                        handler,
                        d.blueprintdefinitionid.clone(),
                    ]);
                }
                outln!("{t}");
            })
        }
        BlueprintCmd::DefGet(a) => {
            let d = c.client.get_blueprint_definition(&colony, &a.name, &c.key()?).await?;
            out.show(&d, || outln!("{}", pretty(&d)))
        }
        BlueprintCmd::DefRm(a) => {
            c.client
                .remove_blueprint_definition(&colony, &a.name, &c.owner_key()?)
                .await?;
            done(
                out,
                serde_json::json!({"removed": a.name}),
                &format!("Blueprint definition {} removed", a.name),
            )
        }
        BlueprintCmd::Add(a) => {
            let mut b: Blueprint = read_json(&a.spec, "a blueprint")?;
            if b.metadata.colonyname.is_empty() {
                b.metadata.colonyname = colony;
            }
            let b = c.client.add_blueprint(b, &c.key()?).await?;
            out.show(&b, || {
                outln!("Blueprint {} added with id {}", b.metadata.name, b.blueprintid)
            })
        }
        BlueprintCmd::Ls { kind, location } => {
            let list = c.client.get_blueprints(&colony, &kind, &location, &c.key()?).await?;
            out.show(&list, || blueprint_table(&list))
        }
        BlueprintCmd::Get(a) => {
            let b = c.client.get_blueprint(&colony, &a.name, &c.key()?).await?;
            out.show(&b, || outln!("{}", pretty(&b)))
        }
        BlueprintCmd::Update { spec, force } => {
            let mut b: Blueprint = read_json(&spec, "a blueprint")?;
            if b.metadata.colonyname.is_empty() {
                b.metadata.colonyname = colony;
            }
            let b = c.client.update_blueprint(b, force, &c.key()?).await?;
            out.show(&b, || {
                outln!(
                    "Blueprint {} updated, generation {}",
                    b.metadata.name,
                    b.metadata.generation
                )
            })
        }
        BlueprintCmd::Rm(a) => {
            c.client.remove_blueprint(&colony, &a.name, &c.key()?).await?;
            done(
                out,
                serde_json::json!({"removed": a.name}),
                &format!("Blueprint {} removed", a.name),
            )
        }
        BlueprintCmd::Status { name, spec } => {
            let status: serde_json::Map<String, serde_json::Value> = read_json(&spec, "a JSON object")?;
            c.client
                .update_blueprint_status(&colony, &name, status, &c.key()?)
                .await?;
            done(
                out,
                serde_json::json!({"updated": name}),
                &format!("Status of {name} updated"),
            )
        }
        BlueprintCmd::Reconcile { name, force } => {
            let p = c.client.reconcile_blueprint(&colony, &name, force, &c.key()?).await?;
            out.show(&p, || outln!("Reconcile process {} submitted", p.processid))
        }
        BlueprintCmd::History { id, limit } => {
            let list = c.client.get_blueprint_history(&id, limit, &c.key()?).await?;
            out.show(&list, || {
                let mut t = table(&["GENERATION", "CHANGE", "TIME", "BY"]);
                for h in &list {
                    t.add_row(vec![
                        h.generation.to_string(),
                        h.changetype.clone(),
                        h.timestamp.human(),
                        h.changedby.chars().take(12).collect(),
                    ]);
                }
                outln!("{t}");
            })
        }
    }
}

// ------------------------------------------------------------------------------------------------ snapshots

#[derive(Subcommand)]
pub(crate) enum SnapshotCmd {
    /// Snapshot the newest version of every file under a label.
    Create {
        /// The label (its sub-labels are included).
        #[arg(long)]
        label: String,
        /// Snapshot name.
        #[arg(long)]
        name: String,
    },
    /// List the colony's snapshots.
    Ls,
    /// Show a snapshot, by id or name.
    Get(IdOrName),
    /// Remove a snapshot, by id or name.
    Rm(IdOrName),
}

#[derive(Args)]
pub(crate) struct IdOrName {
    /// Id.
    #[arg(long, short = 'i', default_value = "", required_unless_present = "name")]
    id: String,
    /// Name.
    #[arg(long, default_value = "")]
    name: String,
}

fn snapshot_rows(s: &Snapshot) -> Vec<(&'static str, String)> {
    vec![
        ("ID", s.snapshotid.clone()),
        ("Name", s.name.clone()),
        ("Label", s.label.clone()),
        ("Added", s.added.human()),
        ("Files", s.fileids.as_ref().map_or(0, Vec::len).to_string()),
    ]
}

pub(crate) async fn snapshot(cmd: SnapshotCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let (colony, key) = (c.colony()?, c.key()?);
    match cmd {
        SnapshotCmd::Create { label, name } => {
            let s = c.client.create_snapshot(&colony, &label, &name, &key).await?;
            out.show(&s, || kv("Snapshot", &snapshot_rows(&s)))
        }
        SnapshotCmd::Ls => {
            let list = c.client.get_snapshots(&colony, &key).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "LABEL", "FILES", "ADDED", "ID"]);
                for s in &list {
                    let rows = snapshot_rows(s);
                    t.add_row(vec![
                        s.name.clone(),
                        s.label.clone(),
                        rows[4].1.clone(),
                        s.added.human(),
                        s.snapshotid.clone(),
                    ]);
                }
                outln!("{t}");
            })
        }
        SnapshotCmd::Get(a) => {
            let s = c.client.get_snapshot(&colony, &a.id, &a.name, &key).await?;
            out.show(&s, || {
                kv("Snapshot", &snapshot_rows(&s));
                for id in s.fileids.iter().flatten() {
                    outln!("  {id}");
                }
            })
        }
        SnapshotCmd::Rm(a) => {
            c.client.remove_snapshot(&colony, &a.id, &a.name, &key).await?;
            done(
                out,
                serde_json::json!({"removed": a.id.clone() + &a.name}),
                "Snapshot removed",
            )
        }
    }
}

// ------------------------------------------------------------------------------------------------ files

#[derive(Subcommand)]
pub(crate) enum FileCmd {
    /// List labels with their file counts (optionally those starting with a prefix).
    Labels {
        /// Only labels starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// List the newest version of each file under a label.
    Ls {
        /// The label.
        #[arg(long)]
        label: String,
    },
    /// Show a file by id, or the versions of a file by label and name.
    Get(FileRef),
    /// Remove a file version by id, or all versions of a file by label and name.
    /// The bytes stay in the object store.
    Rm(FileRef),
}

#[derive(Args)]
pub(crate) struct FileRef {
    /// File id.
    #[arg(long, short = 'i', default_value = "")]
    id: String,
    /// Label.
    #[arg(long, default_value = "")]
    label: String,
    /// File name.
    #[arg(long, default_value = "")]
    name: String,
}

impl FileRef {
    fn check(&self) -> anyhow::Result<()> {
        if self.id.is_empty() && (self.label.is_empty() || self.name.is_empty()) {
            bail!("give --id, or --label and --name");
        }
        Ok(())
    }
}

pub(crate) async fn file(cmd: FileCmd, out: &Output) -> anyhow::Result<()> {
    let c = Ctx::new()?;
    let (colony, key) = (c.colony()?, c.key()?);
    match cmd {
        FileCmd::Labels { prefix } => {
            let list = c.client.get_file_labels(&colony, &prefix, false, &key).await?;
            out.show(&list, || {
                let mut t = table(&["LABEL", "FILES"]);
                for l in &list {
                    t.add_row(vec![l.name.clone(), l.files.to_string()]);
                }
                outln!("{t}");
            })
        }
        FileCmd::Ls { label } => {
            let list = c.client.get_files(&colony, &label, &key).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "SIZE", "CHECKSUM", "OBJECT"]);
                for f in &list {
                    t.add_row(vec![
                        f.name.clone(),
                        f.size.to_string(),
                        f.checksum.clone(),
                        f.s3filename.clone(),
                    ]);
                }
                outln!("{t}");
            })
        }
        FileCmd::Get(r) => {
            r.check()?;
            let msg = GetFile {
                colonyname: colony,
                fileid: r.id,
                label: r.label,
                name: r.name,
                latest: false,
            };
            let list = c.client.get_file(msg, &key).await?;
            out.show(&list, || {
                let mut t = table(&["NAME", "LABEL", "VERSION", "SIZE", "ADDED", "S3", "ID"]);
                for f in &list {
                    let o = &f.reference.s3object;
                    t.add_row(vec![
                        f.name.clone(),
                        f.label.clone(),
                        f.sequencenr.to_string(),
                        f.size.to_string(),
                        f.added.human(),
                        format!("{}:{}/{}/{}", o.server, o.port, o.bucket, o.object),
                        f.fileid.clone(),
                    ]);
                }
                outln!("{t}");
            })
        }
        FileCmd::Rm(r) => {
            r.check()?;
            let msg = RemoveFile {
                colonyname: colony,
                fileid: r.id,
                label: r.label,
                name: r.name,
            };
            c.client.remove_file(msg, &key).await?;
            done(out, serde_json::json!({"removed": true}), "File removed")
        }
    }
}
