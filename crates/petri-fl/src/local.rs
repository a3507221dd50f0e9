//! A whole federation on this machine, without a broker: a throw-away petri PKI, the aggregator and
//! every collaborator as tasks of this process, talking over loopback mutual TLS exactly as they
//! would across sites. For examples (`petri fl local`) and benchmarks (`petri fl bench`).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use petri_pki::tls::{TlsFiles, TlsMaterial};
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use rand::SeedableRng;

use crate::FlError;
use crate::executor::{admit, initial_weights, join, round_id};
use crate::plan::Plan;
use crate::round::{RoundOutcome, RoundSettings, Trainer, aggregate_round, collaborate_round};
use crate::train::{Dataset, mean_std};

/// One site's data.
#[derive(Clone, Debug)]
pub struct Site {
    /// Training rows.
    pub train: Dataset,
    /// Test rows for the federated evaluation.
    pub test: Dataset,
}

struct Local {
    plan: Plan,
    site: Site,
    rng: rand_chacha::ChaCha20Rng,
}

impl Trainer for Local {
    fn moments(&mut self) -> Result<(Vec<f64>, u32), FlError> {
        let rows = u32::try_from(self.site.train.x.len()).unwrap_or(u32::MAX);
        Ok((crate::train::local_moments(&self.site.train), rows))
    }

    fn set_moments(&mut self, average: &[f64]) -> Result<(), FlError> {
        let (mean, std) = crate::train::federated_mean_std(average, self.plan.features)?;
        self.site.train.standardize(&mean, &std);
        self.site.test.standardize(&mean, &std);
        Ok(())
    }

    fn train(&mut self, _round: u32, weights: &[f64]) -> Result<(Vec<f64>, u32), FlError> {
        let t = &self.plan.training;
        let mut w = weights.to_vec();
        self.plan.model.train(
            &mut w,
            &self.site.train,
            t.epochs,
            t.learning_rate,
            t.batch_size,
            &mut self.rng,
        )?;
        Ok((w, u32::try_from(self.site.train.x.len()).unwrap_or(u32::MAX)))
    }

    fn evaluate(&mut self, weights: &[f64]) -> Result<(f64, f64, u64), FlError> {
        let (l, a) = self.plan.model.evaluate(weights, &self.site.test)?;
        Ok((l, a, self.site.test.x.len() as u64))
    }
}

fn pki_err(e: petri_pki::PkiError) -> FlError {
    FlError::Tls(e.to_string())
}

fn node(pki: &Pki, name: &str, dir: &Path) -> Result<TlsMaterial, FlError> {
    let out = dir.join(name);
    pki.issue_node(
        "local",
        &NodeRequest {
            name: name.into(),
            dns: vec![name.into()],
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            days: 1,
        },
    )
    .and_then(|n| n.write_to(&out))
    .map_err(pki_err)?;
    TlsMaterial::load(&TlsFiles {
        ca: out.join("ca.pem"),
        cert: out.join("cert.pem"),
        key: out.join("key.pem"),
        crls: vec![],
    })
    .map_err(pki_err)
}

/// Standardises each site with its own statistics (the plan's `standardize = "local"`).
pub fn standardize_sites(sites: &mut [Site]) {
    for s in sites {
        let (sum, sq, n) = s.train.moments();
        let (m, sd) = mean_std(&sum, &sq, n as f64);
        s.train.standardize(&m, &sd);
        s.test.standardize(&m, &sd);
    }
}

/// What a local federation produced.
#[derive(Clone, Debug)]
pub struct LocalRun {
    /// Every training round.
    pub rounds: Vec<RoundOutcome>,
    /// The final model.
    pub weights: Vec<f64>,
    /// The federation's feature means and deviations, with `standardize = "federated"`.
    pub statistics: Option<(Vec<f64>, Vec<f64>)>,
}

/// Runs every round of `plan` with `sites` (in the plan's collaborator order, raw; they are
/// standardised as the plan says); `dir` holds the throw-away PKI. `on_round` sees each training
/// round as it ends.
pub async fn run(
    plan: &Plan,
    mut sites: Vec<Site>,
    dir: &Path,
    mut on_round: impl FnMut(&RoundOutcome),
) -> Result<LocalRun, FlError> {
    use crate::plan::Standardize;
    use crate::round::STATISTICS_ROUND;
    if sites.len() != plan.collaborators.len() {
        return Err(FlError::Config(format!(
            "{} sites for {} collaborators",
            sites.len(),
            plan.collaborators.len()
        )));
    }
    let pki = Pki::init(&dir.join("pki"), "petri fl local root", 1).map_err(pki_err)?;
    pki.create_org(&OrgRequest {
        name: "local".into(),
        dns: vec!["fl.local".into()],
        ip_ranges: vec![parse_cidr("127.0.0.0/8").map_err(pki_err)?],
        days: 1,
    })
    .map_err(pki_err)?;
    if plan.training.standardize == Standardize::Local {
        standardize_sites(&mut sites);
    }
    let federated = plan.training.standardize == Standardize::Federated;
    let first = if federated { STATISTICS_ROUND } else { 1 };
    let aggregator_name = "aggregator.fl.local";
    let aggregator_tls = node(&pki, aggregator_name, dir)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| FlError::Net(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| FlError::Net(e.to_string()))?
        .to_string();
    let federation = format!("{}-local", plan.name);
    let stage = Duration::from_secs(plan.timeouts.stage_secs);
    let mut tasks = Vec::new();
    for (i, (name, site)) in plan.collaborators.iter().zip(sites).enumerate() {
        let tls = node(&pki, name, dir)?;
        let (addr, federation, plan) = (addr.clone(), federation.clone(), plan.clone());
        let mut trainer = Local {
            plan: plan.clone(),
            site,
            rng: rand_chacha::ChaCha20Rng::seed_from_u64(plan.seed.wrapping_add(i as u64 + 1)),
        };
        tasks.push(tokio::spawn(async move {
            for round in first..=plan.rounds {
                let mut link = join(&addr, aggregator_name, &tls, &federation, round, stage).await?;
                collaborate_round(&mut link, &mut trainer).await?;
            }
            Ok::<_, FlError>(())
        }));
    }
    let mut statistics = None;
    if federated {
        let mut members = admit(&listener, &aggregator_tls, plan, &federation, STATISTICS_ROUND).await?;
        let settings = RoundSettings {
            round: STATISTICS_ROUND,
            secagg: Some(plan.stats_secagg(round_id(&federation, STATISTICS_ROUND))),
            min_collaborators: plan.min_collaborators(),
            stage,
        };
        let outcome = aggregate_round(&mut members, &vec![0.0; 3 * plan.features], &settings).await?;
        statistics = Some(crate::train::federated_mean_std(&outcome.weights, plan.features)?);
    }
    let mut weights = initial_weights(plan);
    let mut outcomes = Vec::new();
    for round in 1..=plan.rounds {
        let mut members = admit(&listener, &aggregator_tls, plan, &federation, round).await?;
        let settings = RoundSettings {
            round,
            secagg: plan
                .secure_aggregation
                .enabled
                .then(|| plan.secagg(round_id(&federation, round), weights.len())),
            min_collaborators: plan.min_collaborators(),
            stage,
        };
        let outcome = aggregate_round(&mut members, &weights, &settings).await?;
        weights = outcome.weights.clone();
        on_round(&outcome);
        outcomes.push(outcome);
    }
    for t in tasks {
        t.await.map_err(|e| FlError::Net(e.to_string()))??;
    }
    Ok(LocalRun {
        rounds: outcomes,
        weights,
        statistics,
    })
}
