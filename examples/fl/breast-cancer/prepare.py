"""Splits scikit-learn's bundled breast-cancer data (569 rows, 30 features, label 1 = benign) into
a held-out test set (20 %, stratified) and N sites, each with its own train.csv and test.csv, for
`petri fl local` / `petri fl collaborator` and for the Flower comparison in tests/bench/.

    python3 prepare.py --sites 5 --out sites
    # sites/site-0.fl.local/train.csv ... sites/test.csv, and the centralised baseline

Needs scikit-learn and numpy. The same seed gives the same split every time.
"""

import argparse
import csv
import pathlib

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def write(path: pathlib.Path, x, y) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([f"f{i}" for i in range(x.shape[1])] + ["label"])
        for row, label in zip(x, y):
            out.writerow([repr(float(v)) for v in row] + [int(label)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("sites"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=args.seed, stratify=y)
    write(args.out / "test.csv", x_test, y_test)
    order = np.random.default_rng(args.seed).permutation(len(x_train))
    for i, part in enumerate(np.array_split(order, args.sites)):
        cut = int(len(part) * 0.8)
        site = args.out / f"site-{i}.fl.local"
        write(site / "train.csv", x_train[part[:cut]], y_train[part[:cut]])
        write(site / "test.csv", x_train[part[cut:]], y_train[part[cut:]])
    # The centralised baseline: every training row in one place, the same held-out rows.
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(x_train), y_train)
    accuracy = model.score(scaler.transform(x_test), y_test)
    print(f"{args.sites} sites, {len(x_train)} training rows, {len(x_test)} held out")
    print(f"centralised logistic regression, held-out accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
