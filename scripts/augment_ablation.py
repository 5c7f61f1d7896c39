"""Each training augmentation on and off: test accuracy on the embedded MNIST
sample's test split and on other writers' digits (scikit-learn's UCI digits,
drawn as scans by scripts/uci_digits.py and read through `cargo xtask
predict`), averaged over several training seeds.

    python3 scripts/augment_ablation.py            # 9 rows x 3 seeds, about 10 minutes
    python3 scripts/augment_ablation.py --seeds 42  # one seed, quicker and noisier
    python3 scripts/augment_ablation.py --default-only --seeds 1 2 3 4 5 6 42 \
        --set train.epochs=30 --set train.dropout=0.3  # one row, other settings

Runs in its own project under target/augment-ablation (your artifacts/ and
run log are left alone) and prints a Markdown table. Needs scikit-learn and
Pillow for the UCI digits (`pip install scikit-learn pillow`). One seed's
figures move by a point or two on UCI from seed to seed, which is why rows
are averaged.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import uci_digits  # noqa: E402  (the same renderer and scorer)

KEYS = ["warp", "shear", "stretch", "elastic", "stroke", "low_resolution", "binarise"]
# The share an augmentation that is off by default is tried at.
TRY_SHARE = 0.2


xtask = uci_digits.xtask


def uci_accuracy(project, uci, sets):
    """Share of the UCI scans the project's model reads right."""
    return uci_digits.read_right(project, sorted(uci.glob("*/*.png")), *sets)


def run(project, uci, overrides, seeds, common):
    """Mean and range of (MNIST test, UCI) accuracy over `seeds`; `common`
    are `KEY=VALUE` overrides for every run."""
    results = []
    for seed in seeds:
        sets = [item for value in common for item in ("--set", value)]
        sets += [item for key, value in overrides for item in ("--set", f"train.{key}={value}")]
        sets += ["--set", f"train.seed={seed}"]
        xtask(project, *sets, "pipeline", "--from", "train")
        metrics = json.loads((project / "artifacts/eval/metrics.json").read_text())
        results.append((metrics["test"]["accuracy"], uci_accuracy(project, uci, sets)))
    return results


def cell(values):
    mean = 100 * sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.2f}%"
    return f"{mean:.2f}% ({100 * min(values):.2f}-{100 * max(values):.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--work", default=str(ROOT / "target/augment-ablation"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a pipeline.toml override for every run (repeatable)")
    parser.add_argument("--default-only", action="store_true",
                        help="only the first row: the augmentation as configured")
    args = parser.parse_args()
    work = Path(args.work)
    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    sample = ROOT / "data/mnist-sample.csv.gz"
    (project / "pipeline.toml").write_text(f'[data]\nsource = "{sample}"\n')
    uci = work / "uci-digits"
    if not uci.exists():
        uci_digits.write(uci, 112)
    xtask(project, "data")

    # Each key off when it is on by default, or on at TRY_SHARE when it is off.
    train = json.loads(xtask(project, "config", "--json"))["sections"]["train"]
    rows = [("the default augmentation", [])]
    for key in KEYS:
        name = f"augment_{key}"
        if train[name]["default"] > 0:
            rows.append((f"without `{name}`", [(name, 0)]))
        else:
            rows.append((f"with `{name} = {TRY_SHARE}`", [(name, TRY_SHARE)]))
    rows += [("no augmentation (`augment = false`)", [("augment", "false")])]
    if args.default_only:
        rows = rows[:1]
    settings = f"; with {' '.join(args.set)}" if args.set else ""
    print(f"seeds {' '.join(map(str, args.seeds))}{settings}; mean (lowest-highest)\n")
    print("| training | MNIST sample, test split | UCI digits (43 other writers) |")
    print("| --- | ---: | ---: |")
    for name, overrides in rows:
        results = run(project, uci, overrides, args.seeds, args.set)
        mnist = cell([m for m, _ in results])
        other = cell([u for _, u in results])
        print(f"| {name} | {mnist} | {other} |", flush=True)


if __name__ == "__main__":
    main()
