#!/usr/bin/env python3
"""hdr's networks in TensorFlow/Keras, timed, for side-by-side comparison.

`--architecture seed` (default) is the seed project's model, exactly as
`../shared/peers/keras_seed.py` builds and trains it: Conv2D(32, 3x3, ReLU),
MaxPooling2D(2), Conv2D(64, 3x3, ReLU), MaxPooling2D(2), Flatten, Dropout,
Dense(10, softmax).

`--architecture deep` is hdr's second network (`[model] architecture = "deep"`):
Conv2D(32, 3x3, ReLU), Conv2D(32, 3x3, ReLU), MaxPooling2D(2),
Conv2D(64, 3x3, ReLU), Conv2D(64, 3x3, ReLU), MaxPooling2D(2),
Flatten (4x4x64 = 1024), Dense(128, ReLU), Dropout, Dense(10, softmax).

Both: Glorot-uniform kernels and zero biases (Keras' defaults), Adam, sparse
categorical cross-entropy, batch 128. The script reads a Kaggle-style CSV
(label,pixel0..pixel783), makes a stratified split, trains, and prints one
JSON line with times, throughputs and accuracies. Its keys are those of
keras_seed.py, plus `architecture`, `parameters`, `dropout`,
`learning_rate` and `infer_warm_images_per_s` (the test split predicted again
after the train split, so without Keras' first-call tracing).

Setup (once): python3 -m venv .venv-peers &&
  .venv-peers/bin/pip install tensorflow-cpu==2.21.0 pandas scikit-learn
Run: .venv-peers/bin/python xtask/peers/keras_peer.py --train data/mnist-sample.csv.gz --architecture deep
"""
import argparse, json, os, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, pandas as pd, tensorflow as tf
from tensorflow import keras
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score, f1_score

ARCHITECTURES = ("seed", "deep")


def load(path):
    df = pd.read_csv(path)
    y = df.pop("label").values if "label" in df else None
    return df.values.reshape(-1, 28, 28, 1).astype("float32") / 255.0, y


def network(architecture, dropout):
    """The layers after the input (and augmentation), as in hdr-model."""
    conv = lambda filters: keras.layers.Conv2D(filters, 3, activation="relu")
    pool = lambda: keras.layers.MaxPooling2D(2)
    if architecture == "seed":
        return [conv(32), pool(), conv(64), pool(),
                keras.layers.Flatten(), keras.layers.Dropout(dropout),
                keras.layers.Dense(10, activation="softmax")]
    if architecture == "deep":
        return [conv(32), conv(32), pool(), conv(64), conv(64), pool(),
                keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                keras.layers.Dropout(dropout), keras.layers.Dense(10, activation="softmax")]
    raise ValueError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--test", help="extra labelled CSV to score on (optional)")
    p.add_argument("--architecture", choices=ARCHITECTURES, default="seed")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--augment", action="store_true", help="random rotate/shift/zoom")
    a = p.parse_args()
    keras.utils.set_random_seed(a.seed)
    t0 = time.perf_counter()
    x, y = load(a.train)
    xt, xv, yt, yv = train_test_split(x, y, test_size=a.test_fraction, random_state=a.seed, stratify=y)
    load_s = time.perf_counter() - t0
    layers = [keras.Input((28, 28, 1))]
    if a.augment:
        layers.append(keras.Sequential([keras.layers.RandomRotation(0.05),
                                        keras.layers.RandomTranslation(0.1, 0.1),
                                        keras.layers.RandomZoom(0.1)]))
    layers += network(a.architecture, a.dropout)
    m = keras.Sequential(layers)
    m.compile(optimizer=keras.optimizers.Adam(a.learning_rate), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    t1 = time.perf_counter()
    m.fit(xt, yt, batch_size=a.batch, epochs=a.epochs, verbose=0)
    train_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    pv = m.predict(xv, batch_size=1000, verbose=0).argmax(1)
    infer_s = time.perf_counter() - t2
    pt = m.predict(xt, batch_size=1000, verbose=0).argmax(1)
    t3 = time.perf_counter()
    m.predict(xv, batch_size=1000, verbose=0)
    warm_s = time.perf_counter() - t3
    out = {
        "framework": f"tensorflow {tf.__version__}", "architecture": a.architecture,
        "parameters": int(m.count_params()), "dropout": a.dropout, "learning_rate": a.learning_rate,
        "train_rows": len(xt), "test_rows": len(xv), "epochs": a.epochs, "batch": a.batch,
        "augment": a.augment, "load_split_s": round(load_s, 3), "train_s": round(train_s, 3),
        "train_samples_per_s": round(len(xt) * a.epochs / train_s, 1),
        "infer_images_per_s": round(len(xv) / infer_s, 1),
        "infer_warm_images_per_s": round(len(xv) / warm_s, 1),
        "train_accuracy": round(accuracy_score(yt, pt), 4),
        "test_accuracy": round(accuracy_score(yv, pv), 4),
        "test_macro_f1": round(f1_score(yv, pv, average="macro"), 4),
    }
    if a.test:
        xh, yh = load(a.test)
        ph = m.predict(xh, batch_size=1000, verbose=0).argmax(1)
        out["extra_accuracy"] = round(accuracy_score(yh, ph), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
