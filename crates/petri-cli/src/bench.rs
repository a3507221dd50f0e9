//! `petri bench`: load against any Colonies-protocol server.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use petri_api::model::{Executor, FunctionSpec};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, Env};

use crate::output::{Output, kv};

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Sequential submit → assign → close rounds from one client.
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) async fn run(args: BenchArgs, out: &Output) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let colony = env.colony()?.to_owned();
    let client = Client::new(&env.host, env.port, env.tls);
    let owner = env
        .colony_prvkey()
        .context("the benchmark registers its own executor")?;
    let submitter = env.prvkey()?;
    // A fresh executor of a type nobody else serves, so no other executor takes the work.
    let key = PrivateKey::generate();
    let tag = &key.id()[..8];
    let name = format!("bench-{tag}");
    let kind = format!("petri-bench-{tag}");
    let executor = Executor {
        executorid: key.id(),
        executorname: name.clone(),
        executortype: kind.clone(),
        colonyname: colony.clone(),
        ..Executor::default()
    };
    client.add_executor(executor, &owner).await?;
    client.approve_executor(&colony, &name, &owner).await?;

    let mut spec = FunctionSpec {
        funcname: "bench".into(),
        maxexectime: -1,
        maxwaittime: -1,
        maxretries: -1,
        ..FunctionSpec::default()
    };
    spec.conditions.colonyname = colony.clone();
    spec.conditions.executortype = kind;

    let bar = indicatif::ProgressBar::new(args.rounds as u64);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut rounds = Vec::with_capacity(args.rounds);
    let started = Instant::now();
    for _ in 0..args.rounds {
        let t0 = Instant::now();
        let p = client.submit(spec.clone(), &submitter).await?;
        let assigned = client
            .assign(&colony, 10, &key)
            .await?
            .context("the submitted process was not assigned")?;
        anyhow::ensure!(
            assigned.processid == p.processid,
            "assigned another process than the one submitted"
        );
        client.close(&p.processid, vec![serde_json::json!("ok")], &key).await?;
        rounds.push(t0.elapsed());
        bar.inc(1);
    }
    let total = started.elapsed();
    bar.finish_and_clear();
    client.remove_executor(&colony, &name, &owner).await?;
    client.remove_all_processes(&colony, 2, &owner).await.ok();

    rounds.sort();
    let n = rounds.len().max(1) as f64;
    let report = serde_json::json!({
        "server": format!("{}:{}", env.host, env.port),
        "rounds": args.rounds,
        "total_s": total.as_secs_f64(),
        "rounds_per_s": n / total.as_secs_f64(),
        "mean_ms": ms(total) / n,
        "p50_ms": ms(percentile(&rounds, 0.50)),
        "p99_ms": ms(percentile(&rounds, 0.99)),
        "max_ms": ms(rounds.last().copied().unwrap_or_default()),
    });
    out.show(&report, || {
        kv(
            "Sequential submit → assign → close",
            &[
                ("Server", format!("{}:{}", env.host, env.port)),
                ("Rounds", args.rounds.to_string()),
                ("Total", format!("{:.3} s", total.as_secs_f64())),
                ("Rounds/s", format!("{:.0}", n / total.as_secs_f64())),
                ("Mean round", format!("{:.3} ms", ms(total) / n)),
                ("p50 round", format!("{:.3} ms", ms(percentile(&rounds, 0.50)))),
                ("p99 round", format!("{:.3} ms", ms(percentile(&rounds, 0.99)))),
            ],
        )
    })
}
