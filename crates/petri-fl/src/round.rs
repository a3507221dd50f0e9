//! One round of a federation, as the aggregator and as a collaborator, over any [`Link`].
//!
//! ```text
//! aggregator                         collaborator
//!   Start{round, id, weights, secagg} ─▶
//!                                   ◀─ Advert                 (secure aggregation only)
//!   Adverts ─▶                      ◀─ Boxes
//!   Inbox ─▶                           trains locally
//!                                   ◀─ Masked  (or Plain{update, weight} without secure aggregation)
//!   Unmask{survivors, dropped} ─▶   ◀─ Unmasked
//!   Done{weights} ─▶                   evaluates the new model on its own test rows
//!                                   ◀─ Report{loss, accuracy, rows}
//! ```
//!
//! The aggregator waits for each step at most the plan's `stage_secs`; a collaborator that is
//! silent, disconnects or errs is dropped for the rest of the round, and secure aggregation
//! recovers its masks if it had shared its keys. A round with fewer than `min_collaborators`
//! inputs fails. Keys are shared before training, as in SecAgg, so that the slowest step (training)
//! happens once all masks are agreed.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::FlError;
use crate::secagg::{Advert, Client, ClientId, Config, Masked, Server, ShareBox, UnmaskReply, UnmaskRequest};

/// Everything that crosses a link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Message {
    /// A collaborator's first message: the federation and round it came for.
    Hello {
        /// The federation.
        federation: String,
        /// The round.
        round: u32,
    },
    /// A round begins: the collaborator's id, the global weights and, with secure aggregation,
    /// its parameters.
    Start {
        /// The round.
        round: u32,
        /// The collaborator's id this round.
        id: ClientId,
        /// Global weights.
        weights: Vec<f64>,
        /// Secure aggregation, if on.
        secagg: Option<Config>,
    },
    /// Secure aggregation step 1.
    Advert(Advert),
    /// Every collaborator's adverts.
    Adverts(Vec<Advert>),
    /// Sealed shares for neighbours.
    Boxes(Vec<ShareBox>),
    /// Sealed shares for this collaborator.
    Inbox(Vec<ShareBox>),
    /// A masked update.
    Masked(Masked),
    /// An update without secure aggregation.
    Plain {
        /// The locally trained weights.
        update: Vec<f64>,
        /// Samples behind them.
        weight: u32,
    },
    /// Who survived and who dropped.
    Unmask(UnmaskRequest),
    /// Shares for unmasking.
    Unmasked(UnmaskReply),
    /// The round's new global weights.
    Done {
        /// The round.
        round: u32,
        /// New global weights.
        weights: Vec<f64>,
    },
    /// A collaborator's evaluation of the new weights on its own test rows.
    Report {
        /// Mean loss.
        loss: f64,
        /// Accuracy.
        accuracy: f64,
        /// Test rows.
        rows: u64,
    },
    /// The other side gives up, with the reason.
    Failed(String),
}

/// A message channel to one peer.
#[async_trait::async_trait]
pub trait Link: Send {
    /// Sends one message.
    async fn send(&mut self, message: &Message) -> Result<(), FlError>;
    /// Receives one message (callers bound the wait).
    async fn recv(&mut self) -> Result<Message, FlError>;
}

/// What a collaborator does with the global weights.
pub trait Trainer: Send {
    /// Trains from `weights`; returns the new weights and the samples behind them.
    fn train(&mut self, round: u32, weights: &[f64]) -> Result<(Vec<f64>, u32), FlError>;
    /// Evaluates `weights` on local test rows: (loss, accuracy, rows).
    fn evaluate(&mut self, weights: &[f64]) -> Result<(f64, f64, u64), FlError>;
    /// Round 0: this site's statistics ([`crate::train::local_moments`]) and its row count.
    fn moments(&mut self) -> Result<(Vec<f64>, u32), FlError> {
        Err(FlError::Data("this trainer takes no part in a statistics round".into()))
    }
    /// Round 0 ended: the federation's averaged statistics, to standardise with.
    fn set_moments(&mut self, _average: &[f64]) -> Result<(), FlError> {
        Ok(())
    }
}

/// The round that sums the sites' feature statistics before training (round 0).
pub const STATISTICS_ROUND: u32 = 0;

/// A collaborator connected for a round, by name.
pub struct Member<L> {
    /// Its certificate name.
    pub name: String,
    /// Its link.
    pub link: L,
    alive: bool,
}

impl<L: Link> Member<L> {
    /// A member named `name` on `link`.
    pub fn new(name: impl Into<String>, link: L) -> Self {
        Member {
            name: name.into(),
            link,
            alive: true,
        }
    }

    /// Takes the member out of the round (or back in, before it starts).
    pub fn set_alive(&mut self, alive: bool) {
        self.alive = alive;
    }
}

/// What a round produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoundOutcome {
    /// The round.
    pub round: u32,
    /// New global weights.
    pub weights: Vec<f64>,
    /// Collaborators whose updates are in the aggregate.
    pub aggregated: Vec<String>,
    /// Collaborators dropped during the round.
    pub dropped: Vec<String>,
    /// Total weight (samples) of the aggregate.
    pub samples: f64,
    /// Mean test loss and accuracy reported by the collaborators (weighted by their test rows).
    pub loss: Option<f64>,
    /// See `loss`.
    pub accuracy: Option<f64>,
    /// Seconds the round took.
    pub seconds: f64,
}

/// Sends `msg` to every live member; those that fail are dropped.
async fn broadcast<L: Link>(members: &mut [Member<L>], mut msg: impl FnMut(usize) -> Option<Message>) {
    for (i, m) in members.iter_mut().enumerate() {
        if !m.alive {
            continue;
        }
        if let Some(message) = msg(i)
            && m.link.send(&message).await.is_err()
        {
            m.alive = false;
        }
    }
}

/// Receives one message from every live member within `limit`; silent or failing members are
/// dropped. Returns (member index, message).
async fn gather<L: Link>(members: &mut [Member<L>], limit: Duration) -> Vec<(usize, Message)> {
    let deadline = tokio::time::Instant::now() + limit;
    let waits = members
        .iter_mut()
        .enumerate()
        .filter(|(_, m)| m.alive)
        .map(|(i, m)| async move {
            let got = tokio::time::timeout_at(deadline, m.link.recv()).await;
            match got {
                Ok(Ok(Message::Failed(reason))) => {
                    tracing::warn!(collaborator = %m.name, %reason, "collaborator gave up");
                    m.alive = false;
                    None
                }
                Ok(Ok(message)) => Some((i, message)),
                Ok(Err(e)) => {
                    tracing::warn!(collaborator = %m.name, error = %e, "collaborator dropped");
                    m.alive = false;
                    None
                }
                Err(_) => {
                    tracing::warn!(collaborator = %m.name, "collaborator silent, dropped");
                    m.alive = false;
                    None
                }
            }
        });
    futures_util::future::join_all(waits)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn unexpected<L>(m: &mut Member<L>, what: &str) {
    tracing::warn!(collaborator = %m.name, "expected {what}, dropped");
    m.alive = false;
}

/// Settings of one round at the aggregator.
#[derive(Clone, Debug)]
pub struct RoundSettings {
    /// The round number.
    pub round: u32,
    /// Secure aggregation parameters, if on.
    pub secagg: Option<Config>,
    /// Fewest updates the round may aggregate.
    pub min_collaborators: usize,
    /// How long each step may take.
    pub stage: Duration,
}

/// Runs one round at the aggregator with `members` (ids are their positions).
pub async fn aggregate_round<L: Link>(
    members: &mut [Member<L>],
    weights: &[f64],
    settings: &RoundSettings,
) -> Result<RoundOutcome, FlError> {
    let started = Instant::now();
    let round = settings.round;
    broadcast(members, |i| {
        Some(Message::Start {
            round,
            id: i as ClientId,
            weights: weights.to_vec(),
            secagg: settings.secagg.clone(),
        })
    })
    .await;
    let too_few = |n: usize| {
        FlError::Protocol(format!(
            "round {round}: {n} collaborators left, fewer than min_collaborators {}",
            settings.min_collaborators
        ))
    };
    let (new_weights, samples, aggregated) = match &settings.secagg {
        None => {
            let mut updates = Vec::new();
            let mut who = Vec::new();
            for (i, msg) in gather(members, settings.stage).await {
                match msg {
                    Message::Plain { update, weight } if update.len() == weights.len() && weight > 0 => {
                        updates.push((update, weight));
                        who.push(i);
                    }
                    _ => unexpected(&mut members[i], "an update"),
                }
            }
            if updates.len() < settings.min_collaborators {
                return Err(too_few(updates.len()));
            }
            let samples = updates.iter().map(|(_, w)| f64::from(*w)).sum();
            let avg = crate::fedavg(&updates).ok_or_else(|| FlError::Protocol("no usable updates".into()))?;
            (avg, samples, who)
        }
        Some(config) => {
            let mut server = Server::new(config.clone());
            let mut adverts = Vec::new();
            for (i, msg) in gather(members, settings.stage).await {
                match msg {
                    Message::Advert(a) if a.id == i as ClientId => adverts.push(a),
                    _ => unexpected(&mut members[i], "an advert"),
                }
            }
            if adverts.len() < settings.min_collaborators {
                return Err(too_few(adverts.len()));
            }
            let all = server.adverts(adverts)?;
            broadcast(members, |_| Some(Message::Adverts(all.clone()))).await;
            let mut boxes = Vec::new();
            for (i, msg) in gather(members, settings.stage).await {
                match msg {
                    Message::Boxes(b) if b.iter().all(|x| x.from == i as ClientId) => {
                        server.note_shared(i as ClientId);
                        boxes.extend(b);
                    }
                    _ => unexpected(&mut members[i], "shares"),
                }
            }
            let mut routed = server.route(boxes);
            broadcast(members, |i| {
                Some(Message::Inbox(routed.remove(&(i as ClientId)).unwrap_or_default()))
            })
            .await;
            let mut masked = Vec::new();
            for (i, msg) in gather(members, settings.stage).await {
                match msg {
                    Message::Masked(m) if m.id == i as ClientId => masked.push(m),
                    _ => unexpected(&mut members[i], "a masked update"),
                }
            }
            if masked.len() < settings.min_collaborators {
                return Err(too_few(masked.len()));
            }
            let request = server.collect(masked)?;
            let survivors = request.survivors.clone();
            broadcast(members, |i| {
                survivors
                    .contains(&(i as ClientId))
                    .then(|| Message::Unmask(request.clone()))
            })
            .await;
            let mut replies: Vec<UnmaskReply> = Vec::new();
            for (i, msg) in gather(members, settings.stage).await {
                match msg {
                    Message::Unmasked(r) if r.id == i as ClientId => replies.push(r),
                    _ => unexpected(&mut members[i], "unmasking shares"),
                }
            }
            let sum = server.finish(&replies)?;
            let (samples, avg) = crate::secagg::decode_average(config, &sum)?;
            let who = survivors.iter().map(|&i| i as usize).collect();
            (avg, samples, who)
        }
    };
    broadcast(members, |_| {
        Some(Message::Done {
            round,
            weights: new_weights.clone(),
        })
    })
    .await;
    let (mut loss, mut accuracy, mut rows) = (0.0, 0.0, 0u64);
    for (i, msg) in gather(members, settings.stage).await {
        match msg {
            Message::Report {
                loss: l,
                accuracy: a,
                rows: r,
            } if l.is_finite() && (0.0..=1.0).contains(&a) => {
                loss += l * r as f64;
                accuracy += a * r as f64;
                rows += r;
            }
            _ => unexpected(&mut members[i], "a report"),
        }
    }
    let dropped = members
        .iter()
        .enumerate()
        .filter(|(i, _)| !aggregated.contains(i))
        .map(|(_, m)| m.name.clone())
        .collect();
    Ok(RoundOutcome {
        round,
        weights: new_weights,
        aggregated: aggregated.iter().map(|&i| members[i].name.clone()).collect(),
        dropped,
        samples,
        loss: (rows > 0).then(|| loss / rows as f64),
        accuracy: (rows > 0).then(|| accuracy / rows as f64),
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn expect(link: &mut impl Link, what: &str) -> Result<Message, FlError> {
    match link.recv().await? {
        Message::Failed(reason) => Err(FlError::Protocol(format!("the aggregator gave up: {reason}"))),
        m => Ok(m),
    }
    .map_err(|e| FlError::Protocol(format!("waiting for {what}: {e}")))
}

fn out_of_order(what: &str) -> FlError {
    FlError::Protocol(format!("the aggregator sent something other than {what}"))
}

/// Takes part in one round as a collaborator; returns the new global weights.
pub async fn collaborate_round<L: Link, T: Trainer>(link: &mut L, trainer: &mut T) -> Result<(u32, Vec<f64>), FlError> {
    let Message::Start {
        round,
        id,
        weights,
        secagg,
    } = expect(link, "the start of a round").await?
    else {
        return Err(out_of_order("the start of a round"));
    };
    match secagg {
        None => {
            let (update, weight) = train_or_report(link, trainer, round, &weights).await?;
            if update.len() != weights.len() {
                return Err(FlError::Data("the update does not have the model's shape".into()));
            }
            link.send(&Message::Plain { update, weight }).await?;
        }
        Some(config) => {
            // A CSPRNG that can be held across awaits (the thread-local one cannot).
            let mut rng = rand_chacha::ChaCha20Rng::from_rng(&mut rand::rng());
            let (mut client, advert) = Client::new(id, config.clone(), &mut rng);
            link.send(&Message::Advert(advert)).await?;
            let Message::Adverts(all) = expect(link, "the adverts").await? else {
                return Err(out_of_order("the adverts"));
            };
            let boxes = client.share_keys(&all, &mut rng)?;
            link.send(&Message::Boxes(boxes)).await?;
            let Message::Inbox(inbox) = expect(link, "shares").await? else {
                return Err(out_of_order("shares"));
            };
            let (update, weight) = train_or_report(link, trainer, round, &weights).await?;
            let weight = weight.min(config.max_weight);
            let masked = client.masked_input(&inbox, &update, weight)?;
            link.send(&Message::Masked(masked)).await?;
            let Message::Unmask(request) = expect(link, "the unmask request").await? else {
                return Err(out_of_order("the unmask request"));
            };
            let reply = client.unmask(&request)?;
            link.send(&Message::Unmasked(reply)).await?;
        }
    }
    let Message::Done { round: r, weights } = expect(link, "the new model").await? else {
        return Err(out_of_order("the new model"));
    };
    if r != round {
        return Err(FlError::Protocol(format!("round {r} ended while {round} was running")));
    }
    let (loss, accuracy, rows) = if round == STATISTICS_ROUND {
        trainer.set_moments(&weights)?;
        (0.0, 0.0, 0)
    } else {
        trainer.evaluate(&weights)?
    };
    link.send(&Message::Report { loss, accuracy, rows }).await?;
    Ok((round, weights))
}

/// Trains (or, in the statistics round, measures), telling the aggregator why if that fails.
async fn train_or_report<L: Link, T: Trainer>(
    link: &mut L,
    trainer: &mut T,
    round: u32,
    weights: &[f64],
) -> Result<(Vec<f64>, u32), FlError> {
    let result = if round == STATISTICS_ROUND {
        trainer.moments()
    } else {
        trainer.train(round, weights)
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = link.send(&Message::Failed(e.to_string())).await;
            Err(e)
        }
    }
}
