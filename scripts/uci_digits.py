"""Other writers' handwriting for development: scikit-learn's 1,797 UCI digits
(43 writers, none of them MNIST's) drawn as scans, one PNG per digit in a
folder named by its label.

Each 8x8 digit (ink levels 0..16) is put on white paper with a margin, drawn
in dark ink and upscaled smoothly, as a low-resolution scan would be:

    python3 scripts/uci_digits.py --out target/uci-digits
    cargo xtask predict --json target/uci-digits/*/*.png > target/uci.jsonl
    python3 scripts/uci_digits.py --score target/uci.jsonl

or scored by the pipeline itself, beside the test split, with its own
confusion matrix in the report:

    python3 scripts/uci_digits.py --out data/uci-digits
    cargo xtask pipeline --set 'data.extra_test_sources=["data/uci-digits"]'

Needs scikit-learn and Pillow (`pip install scikit-learn pillow`); writes
nothing outside --out. These digits are a development set for issue 20:
tune on them, but the goal is other writers in general, not this set.

It also holds what scripts/augment_ablation.py and scripts/teach_uci.py
share: running `cargo xtask` on a project (`xtask`) and the share of a
labelled folder's images its model reads right (`read_right`).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

PAPER = 255  # white
INK = 20  # the darkest ink, at level 16
MARGIN = 2  # paper around the 8x8 digit, in its own pixels


def render(levels, size):
    """One 8x8 digit (levels 0..16) as a size x size grey scan."""
    import numpy as np
    from PIL import Image

    side = 8 + 2 * MARGIN
    page = np.full((side, side), PAPER, dtype=np.float64)
    ink = np.asarray(levels, dtype=np.float64).reshape(8, 8) / 16.0
    page[MARGIN:MARGIN + 8, MARGIN:MARGIN + 8] = PAPER - ink * (PAPER - INK)
    image = Image.fromarray(page.round().astype(np.uint8), mode="L")
    return image.resize((size, size), Image.Resampling.BICUBIC)


def write(out, size):
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = Path(out)
    for label in range(10):
        (out / str(label)).mkdir(parents=True, exist_ok=True)
    for index, (levels, label) in enumerate(zip(digits.data, digits.target)):
        render(levels, size).save(out / str(label) / f"uci-{index:04}.png")
    print(f"wrote {len(digits.target)} digits to {out}/<label>/", file=sys.stderr)


def xtask(project, *args):
    """`cargo xtask --quiet --config PROJECT/pipeline.toml ARGS`, its stdout."""
    root = Path(__file__).resolve().parent.parent
    command = ["cargo", "xtask", "--quiet", "--config", str(Path(project) / "pipeline.toml"), *args]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def read_right(project, files, *sets):
    """Share of `files` (each in a folder named by its label) that the
    project's model reads right through `cargo xtask predict --json`."""
    out = xtask(project, *sets, "predict", "--json", *map(str, files))
    right = 0
    for line in out.splitlines():
        record = json.loads(line)
        right += record.get("digit") == int(Path(record["file"]).parent.name)
    return right / len(files)


def score(predictions):
    """Accuracy of `cargo xtask predict --json` lines against the folder names."""
    right = total = 0
    confusions = {}
    with open(predictions) as lines:
        for line in lines:
            record = json.loads(line)
            truth = int(Path(record["file"]).parent.name)
            predicted = record.get("digit")
            total += 1
            if predicted == truth:
                right += 1
            else:
                confusions[(truth, predicted)] = confusions.get((truth, predicted), 0) + 1
    if total == 0:
        sys.exit(f"error: no predictions in {predictions}")
    print(f"accuracy {100.0 * right / total:.2f}% ({right} of {total})")
    worst = sorted(confusions.items(), key=lambda item: -item[1])[:8]
    print("most frequent mistakes (true -> read: count): " + ", ".join(
        f"{t} -> {p}: {n}" for (t, p), n in worst))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="folder to write <label>/uci-NNNN.png into")
    parser.add_argument("--size", type=int, default=112, help="side of each scan in pixels")
    parser.add_argument("--score", metavar="JSONL", help="score `cargo xtask predict --json` output")
    args = parser.parse_args()
    if args.score:
        score(args.score)
    elif args.out:
        write(args.out, args.size)
    else:
        parser.error("give --out DIR or --score FILE")


if __name__ == "__main__":
    main()
