"""What the two check scripts share: hdr's test images and probabilities, and the comparison.

Images are the pixel bytes of a split, scaled the way hdr scales them (u8 / 255,
float32) and laid out NHWC [N, 28, 28, 1]. Expected probabilities are the
p0..p9 columns of a CSV such as artifacts/eval/predictions_test.csv, whose
`index` column (when present) selects the image rows.
"""

import json
import sys

import numpy as np
import pandas as pd

SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10


def fail(message, code=2):
    """Prints `error: message` to stderr and exits (2: unreadable input)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def load_images(path):
    """NHWC float32 images in [0, 1] from a parquet split or a Kaggle-style CSV (plain or .gz)."""
    try:
        frame = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is a bad input file
        fail(f"{path}: cannot read the images ({exc})")
    columns = [f"pixel{i}" for i in range(PIXELS)]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        fail(f"{path}: no column {missing[0]} (expected label, pixel0..pixel783)")
    pixels = frame[columns].to_numpy(dtype=np.float32) / np.float32(255.0)
    return pixels.reshape(-1, SIDE, SIDE, 1)


def load_expected(path, images):
    """(the images the CSV describes, its [N, 10] probabilities)."""
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        fail(f"{path}: cannot read the expected probabilities ({exc})")
    columns = [f"p{i}" for i in range(CLASSES)]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        fail(f"{path}: no column {missing[0]} (expected p0..p9)")
    if "index" in frame.columns:
        index = frame["index"].to_numpy()
        if index.max(initial=-1) >= len(images):
            fail(f"{path}: index {index.max()} is past the {len(images)} images")
        images = images[index]
    elif len(frame) != len(images):
        fail(f"{path}: {len(frame)} rows for {len(images)} images")
    return images, frame[columns].to_numpy(dtype=np.float64)


def compare(name, got, expected, tolerance):
    """Prints the agreement as one JSON line; exit status 1 unless all argmax agree and max |dp| <= tolerance."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        fail(f"{name} gave shape {got.shape}, expected {expected.shape}", code=1)
    agree = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    max_diff = float(np.abs(got - expected).max(initial=0.0))
    print(json.dumps({
        "runtime": name,
        "images": len(expected),
        "argmax_agree": agree,
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
    }))
    if agree != len(expected) or max_diff > tolerance:
        print(f"error: {name} disagrees with hdr: {len(expected) - agree} argmax differences, "
              f"max |dp| {max_diff:.3g} (tolerance {tolerance:g})", file=sys.stderr)
        sys.exit(1)
