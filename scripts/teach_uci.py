"""Teaching works, measured: 20 digits per label from other writers
(scikit-learn's UCI digits, drawn as scans by scripts/uci_digits.py) posted
through the drawing page's API, then the default pipeline run again; the
other UCI digits and the MNIST sample's test split are read before and after.

    python3 scripts/teach_uci.py              # about 3 minutes
    python3 scripts/teach_uci.py --per-label 10

Runs in its own project under target/teach-uci (your artifacts/, run log and
data/my-digits.csv are left alone), with `cargo xtask serve` on a free
loopback port while it posts. Needs scikit-learn and Pillow
(`pip install scikit-learn pillow`). Which digits are taught is the first
`--per-label` of each label in a seeded shuffle (`--seed`).
"""

import argparse
import json
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import uci_digits  # noqa: E402  (the same renderer, runner and scorer)


xtask = uci_digits.xtask


def mnist_test(project):
    metrics = json.loads((project / "artifacts/eval/metrics.json").read_text())
    return metrics["test"]["accuracy"], metrics.get("user_test", {}).get("accuracy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def teach(project, files):
    """Posts each file to `/api/samples?label=D` of a `cargo xtask serve`; returns save latencies."""
    port = free_port()
    server = subprocess.Popen(
        ["cargo", "xtask", "--quiet", "--config", str(project / "pipeline.toml"),
         "serve", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None:
                    sys.exit(f"error: cargo xtask serve exited:\n{server.stderr.read().decode()}")
                time.sleep(0.2)
        latencies = []
        for path in files:
            request = urllib.request.Request(
                f"{base}/api/samples?label={path.parent.name}",
                data=path.read_bytes(),
                headers={"Content-Type": "image/png"},
                method="POST",
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status != 201:
                    sys.exit(f"error: {path}: {response.status}")
                response.read()
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-label", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--weight", type=int, help="train.user_sample_weight (default: the default)")
    parser.add_argument("--work", default=str(ROOT / "target/teach-uci"))
    args = parser.parse_args()
    work = Path(args.work)
    project = work / "project"
    if project.exists():
        subprocess.run(["rm", "-rf", str(project)], check=True)
    project.mkdir(parents=True)
    sample = ROOT / "data/mnist-sample.csv.gz"
    config = f'[data]\nsource = "{sample}"\n'
    if args.weight is not None:
        config += f"[train]\nuser_sample_weight = {args.weight}\n"
    (project / "pipeline.toml").write_text(config)
    uci = work / "uci-digits"
    if not uci.exists():
        uci_digits.write(uci, 112)
    everything = sorted(uci.glob("*/*.png"))
    random.Random(args.seed).shuffle(everything)
    taught = []
    for label in range(10):
        taught += [p for p in everything if p.parent.name == str(label)][: args.per_label]
    others = sorted(set(everything) - set(taught))

    xtask(project, "pipeline")
    before_uci, before_mnist = uci_digits.read_right(project, others), mnist_test(project)[0]
    latencies = sorted(teach(project, taught))
    started = time.perf_counter()
    xtask(project, "pipeline")
    seconds = time.perf_counter() - started
    after_uci = uci_digits.read_right(project, others)
    after_mnist, own = mnist_test(project)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"taught {len(taught)} UCI digits ({args.per_label} per label, seed {args.seed}) "
          f"through POST /api/samples: median {1e3 * latencies[len(latencies) // 2]:.1f} ms, "
          f"p99 {1e3 * p99:.1f} ms per save; retrained in {seconds:.0f} s\n")
    print("| model | the other UCI digits | MNIST sample, test split | your held-out digits |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| untaught (default pipeline) | {100 * before_uci:.2f}% ({len(others)}) "
          f"| {100 * before_mnist:.2f}% | - |")
    own_cell = "-" if own is None else f"{100 * own:.2f}%"
    print(f"| taught | {100 * after_uci:.2f}% | {100 * after_mnist:.2f}% | {own_cell} |")


if __name__ == "__main__":
    main()
