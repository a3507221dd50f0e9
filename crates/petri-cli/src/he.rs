//! `petri he ...`: the analyst's Paillier commands (keys, encrypt, add, decrypt), and the built-in
//! executors `petri executor he-data` and `petri executor he-aggregate`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_crypto::PrivateKey;
use petri_he_executors::DataSource;
use petri_paillier::wire::collect_ciphertexts;
use petri_paillier::{EncryptedNumber, Number, PublicKey, WireCiphertext};
use petri_sdk::Env;
use serde_json::{Value, json};

use crate::output::Output;

#[derive(Subcommand)]
pub(crate) enum HeCmd {
    /// Generate a key pair: the private key (pheutil's JWK) is written readable only by you, the
    /// public key is printed as the seed's base64 `{"n": ...}` for `kwargs["paillier-pubkey"]`.
    Keygen(KeygenArgs),
    /// Print the public key of a private key file.
    Pubkey(PubkeyArgs),
    /// Encrypt values; prints a JSON array of `{"v", "e"}` ciphertexts.
    Encrypt(EncryptArgs),
    /// Add ciphertexts (exponents aligned as phe does); prints the re-randomised sum as `{"v", "e"}`.
    Add(AddArgs),
    /// Decrypt ciphertexts given as files, `-` (stdin) or inline JSON, or a process's output.
    Decrypt(DecryptArgs),
    /// Print the fingerprint a data owner's policy pins an analyst key by (`analyst_keys`).
    Fingerprint(FingerprintArgs),
    /// Make a data owner's mask key for secure sums (mode 0600); prints the public key the other
    /// data owners pin under `[peers]`.
    MaskKeygen(MaskKeygenArgs),
}

#[derive(Args)]
pub(crate) struct FingerprintArgs {
    /// The public key (any shape phe or the seed uses), or a file holding it.
    #[arg(long, env = "PETRI_HE_PUBLIC_KEY")]
    public_key: String,
}

#[derive(Args)]
pub(crate) struct MaskKeygenArgs {
    /// Where to write the key (must not exist).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// Key size in bits: 2048, 3072 (phe's default) or 4096.
    #[arg(long, env = "PETRI_HE_BITS", default_value_t = petri_paillier::DEFAULT_KEY_BITS)]
    bits: usize,
    /// Where to write the private key (pheutil JWK, mode 0600).
    #[arg(long, env = "PETRI_HE_PRIVATE_KEY")]
    private_key: PathBuf,
    /// Also write the public key as a pheutil JWK here.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeyFormat {
    /// base64 of `{"n": "<decimal>"}` (the seed's wrapper)
    Seed,
    /// pheutil's JWK
    Jwk,
    /// phe's documented `{"g": <int>, "n": <int>}`
    PheJson,
}

#[derive(Args)]
pub(crate) struct PubkeyArgs {
    /// The private key file.
    #[arg(long, env = "PETRI_HE_PRIVATE_KEY")]
    private_key: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "seed")]
    format: KeyFormat,
}

#[derive(Args)]
pub(crate) struct EncryptArgs {
    /// The public key (any shape phe or the seed uses), or a file holding it.
    #[arg(long, env = "PETRI_HE_PUBLIC_KEY")]
    public_key: String,
    /// Encode floats with this precision instead of full double precision (phe's `precision`).
    #[arg(long)]
    precision: Option<f64>,
    /// The values: integers of any size or floats.
    #[arg(required = true, allow_hyphen_values = true)]
    values: Vec<String>,
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// The public key (any shape phe or the seed uses), or a file holding it.
    #[arg(long, env = "PETRI_HE_PUBLIC_KEY")]
    public_key: String,
    /// Do not re-randomise the sum. Only for comparing exact results with phe: the output is
    /// then linkable to its inputs.
    #[arg(long)]
    no_rerandomize: bool,
    /// Ciphertexts: JSON files, `-` for stdin, or inline JSON.
    #[arg(required = true)]
    inputs: Vec<String>,
}

#[derive(Args)]
pub(crate) struct DecryptArgs {
    /// The private key file (pheutil JWK).
    #[arg(long, env = "PETRI_HE_PRIVATE_KEY")]
    private_key: PathBuf,
    /// Decrypt the output of this process (reads the COLONIES_* settings).
    #[arg(long, short = 'p')]
    process: Option<String>,
    /// Ciphertexts: JSON files, `-` for stdin, or inline JSON.
    inputs: Vec<String>,
}

/// Key text given inline or as a path to a file that holds it.
fn key_text(arg: &str) -> anyhow::Result<String> {
    let path = Path::new(arg);
    if arg.len() < 4096 && path.is_file() {
        return std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()));
    }
    Ok(arg.to_owned())
}

fn public_key(arg: &str) -> anyhow::Result<PublicKey> {
    Ok(PublicKey::parse(&key_text(arg)?)?)
}

pub(crate) fn private_key(path: &Path) -> anyhow::Result<petri_paillier::PrivateKey> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    petri_paillier::PrivateKey::from_jwk(&text).with_context(|| format!("{}", path.display()))
}

/// Writes a file readable only by its owner.
pub(crate) fn write_private(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (use --force to overwrite)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// JSON from each input: a file, `-` for stdin, or the text itself.
fn read_inputs(inputs: &[String]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for input in inputs {
        let text = if input == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read stdin")?;
            s
        } else if Path::new(input).is_file() {
            std::fs::read_to_string(input).with_context(|| format!("cannot read {input}"))?
        } else {
            input.clone()
        };
        let value =
            petri_paillier::wire::parse_json_lenient(&text).unwrap_or_else(|_| Value::String(text.trim().to_owned()));
        out.push(value);
    }
    Ok(out)
}

fn ciphertexts(pk: &PublicKey, inputs: &[Value]) -> anyhow::Result<Vec<(WireCiphertext, EncryptedNumber)>> {
    let wires = collect_ciphertexts(&Value::Array(inputs.to_vec()))?;
    if wires.is_empty() {
        bail!("no ciphertexts found in the input");
    }
    wires
        .into_iter()
        .map(|w| {
            let c = pk.from_wire(&w)?;
            Ok((w, c))
        })
        .collect()
}

pub(crate) async fn run(cmd: HeCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        HeCmd::Keygen(a) => {
            let bits = a.bits;
            let keys = tokio::task::spawn_blocking(move || petri_paillier::generate_keypair(&mut rand::rng(), bits))
                .await
                .context("key generation stopped")??;
            let kid = format!("Paillier key generated by petri ({bits} bits)");
            write_private(&a.private_key, &keys.private.to_jwk(&kid), a.force)?;
            if let Some(path) = &a.public_key {
                write_private(path, &keys.public.to_jwk(&kid).to_string(), a.force)?;
            }
            let seed = keys.public.to_seed_base64();
            out.show(
                &json!({"bits": bits, "private_key": a.private_key, "public_key": seed}),
                || {
                    eprintln!("Private key written to {} (keep it secret)", a.private_key.display());
                    outln!("{seed}");
                },
            )
        }
        HeCmd::Pubkey(a) => {
            let sk = private_key(&a.private_key)?;
            let pk = sk.public_key();
            let text = match a.format {
                KeyFormat::Seed => pk.to_seed_base64(),
                KeyFormat::Jwk => pk.to_jwk("Paillier public key").to_string(),
                KeyFormat::PheJson => pk.to_phe_json(),
            };
            outln!("{text}");
            Ok(())
        }
        HeCmd::Encrypt(a) => {
            let pk = public_key(&a.public_key)?;
            let values: Vec<Number> = a.values.iter().map(|v| v.parse::<Number>()).collect::<Result<_, _>>()?;
            let mut rng = rand::rng();
            let mut wires = Vec::new();
            for v in &values {
                let mut c = pk.encrypt(v, a.precision, &mut rng)?;
                wires.push(c.to_wire(&mut rng).to_value());
            }
            outln!("{}", Value::Array(wires));
            Ok(())
        }
        HeCmd::Add(a) => {
            let pk = public_key(&a.public_key)?;
            let items = ciphertexts(&pk, &read_inputs(&a.inputs)?)?;
            let mut total = pk.sum(items.iter().map(|(_, c)| c))?;
            let wire = if a.no_rerandomize {
                total.to_wire_raw()
            } else {
                total.to_wire(&mut rand::rng())
            };
            outln!("{}", wire.to_value());
            Ok(())
        }
        HeCmd::Fingerprint(a) => {
            let pk = public_key(&a.public_key)?;
            let fingerprint = petri_he_executors::key_fingerprint(&pk);
            out.show(&json!({"bits": pk.bits(), "fingerprint": fingerprint}), || {
                outln!("{fingerprint}")
            })
        }
        HeCmd::MaskKeygen(a) => {
            let key = petri_he_executors::mask::MaskKey::generate();
            key.save(&a.out)?;
            let public = key.public_base64();
            out.show(&json!({"key": a.out, "public_key": public}), || {
                eprintln!("Mask key written to {} (keep it secret)", a.out.display());
                outln!("{public}");
            })
        }
        HeCmd::Decrypt(a) => {
            let sk = private_key(&a.private_key)?;
            let mut inputs = read_inputs(&a.inputs)?;
            if let Some(id) = &a.process {
                let env = Env::from_env()?;
                let client = env.client();
                let process = client.get_process(id, &env.prvkey()?).await?;
                inputs.push(Value::Array(process.output));
            }
            if inputs.is_empty() {
                bail!("give ciphertexts as arguments, `-` for stdin, or --process ID");
            }
            let items = ciphertexts(sk.public_key(), &inputs)?;
            let mut results = Vec::new();
            for (w, c) in &items {
                results.push((w.label.clone(), sk.decrypt(c)?));
            }
            show_plaintexts(&results, out)
        }
    }
}

/// Prints decrypted values: one per line (`label: value` when labelled), then the mean when the
/// values are a labelled sum and count.
pub(crate) fn show_plaintexts(results: &[(Option<String>, Number)], out: &Output) -> anyhow::Result<()> {
    let find = |l: &str| {
        results
            .iter()
            .find(|(label, _)| label.as_deref() == Some(l))
            .map(|(_, v)| v)
    };
    let mean = match (find("sum"), find("count")) {
        (Some(s), Some(c)) if c.to_f64() > 0.0 => Some(s.to_f64() / c.to_f64()),
        _ => None,
    };
    let json_items: Vec<Value> = results
        .iter()
        .map(|(label, v)| json!({"label": label, "value": number_json(v)}))
        .collect();
    out.show(&json!({"values": json_items, "mean": mean}), || {
        for (label, v) in results {
            match label {
                Some(l) => outln!("{l}: {v}"),
                None => outln!("{v}"),
            }
        }
        if let Some(m) = mean {
            outln!("mean: {m:?}");
        }
    })
}

fn number_json(v: &Number) -> Value {
    match v {
        // Exact integers as JSON numbers when they fit, else as decimal strings.
        Number::Int(i) => i64::try_from(i.clone()).map_or_else(|_| json!(i.to_string()), |x| json!(x)),
        Number::Float(f) => json!(f),
    }
}

#[derive(Args)]
pub(crate) struct ExecutorIdentity {
    /// Executor name (default: the type and a random suffix).
    #[arg(long)]
    name: Option<String>,
    /// Executor type that function specs ask for (`conditions.executortype`).
    #[arg(long = "type")]
    kind: String,
    /// Function name to answer.
    #[arg(long)]
    func: Option<String>,
}

#[derive(Args)]
pub(crate) struct HeDataArgs {
    #[command(flatten)]
    id: ExecutorIdentity,
    /// Answer with this one value.
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["csv", "sqlite", "postgres"])]
    value: Option<String>,
    /// Read a column of this CSV file (header row required).
    #[arg(long, requires = "column", conflicts_with_all = ["sqlite", "postgres"])]
    csv: Option<PathBuf>,
    /// The CSV column.
    #[arg(long)]
    column: Option<String>,
    /// Run --query on this SQLite file (read-only).
    #[arg(long, requires = "query", conflicts_with = "postgres")]
    sqlite: Option<PathBuf>,
    /// Run --query on this PostgreSQL database (postgres:// URL).
    #[arg(long, env = "PETRI_HE_POSTGRES_URL", requires = "query")]
    postgres: Option<String>,
    /// The query whose first column holds the values.
    #[arg(long)]
    query: Option<String>,
    /// The data owner's policy (TOML): who may ask, pinned analyst keys, minimum cohort and
    /// contributors, the audit log. Nothing is answered without one.
    #[arg(long, env = "PETRI_POLICY")]
    policy: PathBuf,
}

#[derive(Args)]
pub(crate) struct HeAggregateArgs {
    #[command(flatten)]
    id: ExecutorIdentity,
}

impl HeDataArgs {
    fn source(&self) -> anyhow::Result<DataSource> {
        if let Some(v) = &self.value {
            return Ok(DataSource::Value(v.parse()?));
        }
        if let (Some(path), Some(column)) = (&self.csv, &self.column) {
            return Ok(DataSource::Csv {
                path: path.clone(),
                column: column.clone(),
            });
        }
        if let (Some(path), Some(query)) = (&self.sqlite, &self.query) {
            return Ok(DataSource::Sqlite {
                path: path.clone(),
                query: query.clone(),
            });
        }
        if let (Some(url), Some(query)) = (&self.postgres, &self.query) {
            return Ok(DataSource::Postgres {
                url: url.clone(),
                query: query.clone(),
            });
        }
        bail!("give a data source: --value, --csv with --column, --sqlite or --postgres with --query")
    }
}

/// The executor's key and whether it registers itself: with COLONIES_COLONY_PRVKEY a fresh key
/// that self-registers (development), otherwise COLONIES_PRVKEY, already approved by the owner.
pub(crate) fn identity(env: &Env) -> anyhow::Result<(PrivateKey, Option<PrivateKey>)> {
    match env.colony_prvkey() {
        Ok(owner) => Ok((PrivateKey::generate(), Some(owner))),
        Err(_) => Ok((
            env.prvkey().context("set COLONIES_PRVKEY or COLONIES_COLONY_PRVKEY")?,
            None,
        )),
    }
}

pub(crate) async fn serve(
    runtime: petri_executor::Runtime,
    owner: Option<PrivateKey>,
    what: &str,
) -> anyhow::Result<()> {
    runtime.register(owner.as_ref()).await?;
    eprintln!(
        "{what} registered (id {}); waiting for processes, Ctrl-C to stop",
        runtime.id()
    );
    runtime
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn name_for(id: &ExecutorIdentity, key: &PrivateKey) -> String {
    id.name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", id.kind, &key.id()[..8]))
}

pub(crate) async fn run_data(args: HeDataArgs) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let source = args.source()?;
    let (key, owner) = identity(&env)?;
    let name = name_for(&args.id, &key);
    let func = args.id.func.clone().unwrap_or_else(|| "get_patient_data".into());
    let policy = petri_policy::Policy::load(&args.policy)?;
    eprintln!(
        "policy {} (audit log {})",
        args.policy.display(),
        policy.audit().path().display()
    );
    let data_owner = petri_he_executors::DataOwner::new(&name, source, std::sync::Arc::new(policy))?;
    let runtime = petri_he_executors::data_executor(&env, &name, &args.id.kind, key, &func, data_owner);
    serve(runtime, owner, &format!("data executor {name} ({func})")).await
}

pub(crate) async fn run_aggregate(args: HeAggregateArgs) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let (key, owner) = identity(&env)?;
    let name = name_for(&args.id, &key);
    let func = args.id.func.clone().unwrap_or_else(|| "sum_patient_data".into());
    let runtime = petri_he_executors::aggregator_executor(&env, &name, &args.id.kind, key, &func);
    serve(runtime, owner, &format!("aggregator {name} ({func})")).await
}
