"""Flower 1.42 beside `petri fl` on the same work, for BENCHMARKS.md.

    python3 -m venv /work/venv-fl && /work/venv-fl/bin/pip install "flwr[simulation]==1.42.0" scikit-learn
    /work/venv-fl/bin/python examples/fl/breast-cancer/prepare.py --sites 5 --out /tmp/bc5
    /work/venv-fl/bin/python tests/bench/flower_fl.py accuracy --sites /tmp/bc5 --rounds 10
    /work/venv-fl/bin/python tests/bench/flower_fl.py speed --clients 5 --params 100000 --rounds 3

`accuracy`: FedAvg of a numpy logistic regression over the breast-cancer sites with the
hyperparameters of examples/fl/breast-cancer/plan.toml (10 local epochs of minibatch SGD, batch 16,
learning rate 0.1, zero initial weights), each site standardised with its own statistics, then
the held-out accuracy (test rows standardised with the pooled training statistics, as the
centralised baseline of prepare.py). `speed`: seconds per round with SecAgg+ (every client a
neighbour of every other, threshold 2/3) for an MLP of about `--params` parameters on 100
synthetic rows per client, as `petri fl bench` runs it. Round time is measured inside the
ServerApp, from the start of the fit stage to the aggregated result, so Ray's start-up is not
counted.
"""

import argparse
import csv
import pathlib
import time

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.simulation import run_simulation

ROUND_TIMES: list[float] = []


def load(path: pathlib.Path):
    with open(path) as f:
        rows = list(csv.reader(f))
    data = np.array(rows[1:], dtype=float)
    return data[:, :-1], data[:, -1]


def standardize(x, mean, std):
    return (x - mean) / np.where(std > 1e-12, std, 1.0)


class Logreg:
    def __init__(self, dim):
        self.dim = dim

    def init(self):
        return np.zeros(self.dim + 1)

    def prob(self, w, x):
        return 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))

    def grad(self, w, x, y):
        e = self.prob(w, x) - y
        return np.concatenate([x.T @ e, [e.sum()]])


class Mlp:
    def __init__(self, dim, hidden):
        self.dim, self.hidden = dim, hidden

    def init(self, rng):
        d, h = self.dim, self.hidden
        return np.concatenate([rng.uniform(-1 / np.sqrt(d), 1 / np.sqrt(d), h * d), np.zeros(h),
                               rng.uniform(-1 / np.sqrt(h), 1 / np.sqrt(h), h), [0.0]])

    def split(self, w):
        d, h = self.dim, self.hidden
        return w[:h * d].reshape(h, d), w[h * d:h * d + h], w[h * d + h:h * d + 2 * h], w[-1]

    def grad(self, w, x, y):
        w1, b1, w2, b2 = self.split(w)
        a = np.tanh(x @ w1.T + b1)
        p = 1.0 / (1.0 + np.exp(-(a @ w2 + b2)))
        e = p - y
        back = np.outer(e, w2) * (1 - a * a)
        return np.concatenate([(back.T @ x).ravel(), back.sum(0), a.T @ e, [e.sum()]])


def sgd(model, w, x, y, epochs, lr, batch, rng):
    w = w.copy()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            w -= lr / len(idx) * model.grad(w, x[idx], y[idx])
    return w


class Client(NumPyClient):
    def __init__(self, model, x, y, epochs, lr, batch, seed):
        self.model, self.x, self.y = model, x, y
        self.epochs, self.lr, self.batch = epochs, lr, batch
        self.rng = np.random.default_rng(seed)

    def fit(self, parameters, config):
        w = sgd(self.model, parameters[0], self.x, self.y, self.epochs, self.lr, self.batch, self.rng)
        return [w], len(self.x), {}

    def evaluate(self, parameters, config):
        return 0.0, len(self.x), {}


class TimedFedAvg(FedAvg):
    """FedAvg that records each round's time from the start of the fit stage to its aggregate."""

    def configure_fit(self, server_round, parameters, client_manager):
        self._start = time.perf_counter()
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        out = super().aggregate_fit(server_round, results, failures)
        ROUND_TIMES.append(time.perf_counter() - self._start)
        self.final = out[0]
        return out


def simulate(clients, initial, rounds, secagg):
    n = len(clients)
    strategy = TimedFedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                           initial_parameters=ndarrays_to_parameters([initial]))
    client_app = ClientApp(client_fn=lambda context: clients[int(context.node_config["partition-id"])].to_client(),
                           mods=[secaggplus_mod] if secagg else [])
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context: Context) -> None:
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
        fit = SecAggPlusWorkflow(num_shares=n, reconstruction_threshold=max(2, -(-2 * n // 3))) if secagg else None
        DefaultWorkflow(fit_workflow=fit)(grid, legacy)

    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=n,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    from flwr.common import parameters_to_ndarrays
    return parameters_to_ndarrays(strategy.final)[0]


def accuracy(args):
    sites = sorted(p for p in args.sites.iterdir() if p.is_dir())
    model = None
    clients, pooled = [], []
    for i, site in enumerate(sites):
        x, y = load(site / "train.csv")
        pooled.append(x)
        model = Logreg(x.shape[1])
        x = standardize(x, x.mean(0), x.std(0))
        clients.append(Client(model, x, y, args.epochs, args.lr, args.batch, i))
    w = simulate(clients, model.init(), args.rounds, secagg=True)
    xt, yt = load(args.sites / "test.csv")
    allx = np.concatenate(pooled)
    xt = standardize(xt, allx.mean(0), allx.std(0))
    acc = float(((model.prob(w, xt) >= 0.5) == (yt == 1)).mean())
    print(f"flower {len(sites)} sites, {args.rounds} rounds, SecAgg+: held-out accuracy {acc:.4f}")
    print(f"seconds per round: {np.mean(ROUND_TIMES):.3f}")


def speed(args):
    rng = np.random.default_rng(7)
    features = 30
    hidden = max(1, (args.params - 1) // (features + 2))
    model = Mlp(features, hidden)
    clients = []
    for i in range(args.clients):
        y = rng.integers(0, 2, args.rows).astype(float)
        x = y[:, None] + rng.uniform(-1, 1, (args.rows, features))
        clients.append(Client(model, x, y, 1, 0.05, 16, i))
    simulate(clients, model.init(rng), args.rounds, secagg=not args.plain)
    params = hidden * features + 2 * hidden + 1
    kind = "plain" if args.plain else "SecAgg+"
    print(f"flower N={args.clients} params={params} {kind}: seconds per round {np.mean(ROUND_TIMES):.3f} "
          f"(rounds: {', '.join(f'{t:.2f}' for t in ROUND_TIMES)})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--sites", type=pathlib.Path, required=True)
    a.add_argument("--rounds", type=int, default=10)
    a.add_argument("--epochs", type=int, default=10)
    a.add_argument("--lr", type=float, default=0.1)
    a.add_argument("--batch", type=int, default=16)
    s = sub.add_parser("speed")
    s.add_argument("--clients", type=int, default=5)
    s.add_argument("--params", type=int, default=100_000)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--rows", type=int, default=100)
    s.add_argument("--plain", action="store_true")
    args = ap.parse_args()
    accuracy(args) if args.cmd == "accuracy" else speed(args)
