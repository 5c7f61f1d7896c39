#!/usr/bin/env python3
"""Loads hdr's model.safetensors into the same network in Keras (TensorFlow)
and checks its probabilities against hdr's own on the test split.

    python scripts/keras_from_safetensors.py                 # the defaults below
    python scripts/keras_from_safetensors.py model.safetensors --images test.csv --expected probs.csv
    python scripts/keras_from_safetensors.py --save model.keras   # also keep the Keras model

Defaults: artifacts/train/model.safetensors, artifacts/data/test.parquet and
artifacts/eval/predictions_test.csv. The tensors map one to one: Keras
kernels are HWIO like hdr's conv weights, Keras' Flatten on NHWC is hdr's
flatten order (row, column, channel), and Keras' Dense kernel is hdr's
dense.weight transposed ([in, out] instead of [out, in]). Prints one JSON
line; exits 0 when every argmax agrees and max |dp| <= --tolerance, 1 when
not, 2 when an input cannot be read.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hdr_inputs import CLASSES, SIDE, compare, fail, load_expected, load_images  # noqa: E402

# hdr's seed network: name, shape of each tensor in model.safetensors.
TENSORS = {
    "conv1.weight": (3, 3, 1, 32),
    "conv1.bias": (32,),
    "conv2.weight": (3, 3, 32, 64),
    "conv2.bias": (64,),
    "dense.weight": (CLASSES, 1600),
    "dense.bias": (CLASSES,),
}


def seed_network(keras, dropout=0.3):
    """The seed's network in Keras, layer for layer."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((SIDE, SIDE, 1)),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(CLASSES, activation="softmax", name="dense"),
    ])


def load_weights(model, path):
    """Copies the safetensors tensors into the Keras layers (checking names and shapes)."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except Exception as exc:  # noqa: BLE001
        fail(f"{path}: not a readable safetensors file ({exc})")
    for name, shape in TENSORS.items():
        if name not in tensors:
            fail(f"{path}: missing tensor {name} (this recipe is for hdr's seed network)")
        if tensors[name].shape != shape:
            fail(f"{path}: tensor {name} has shape {tensors[name].shape}, expected {shape}")
    model.get_layer("conv1").set_weights([tensors["conv1.weight"], tensors["conv1.bias"]])
    model.get_layer("conv2").set_weights([tensors["conv2.weight"], tensors["conv2.bias"]])
    model.get_layer("dense").set_weights([tensors["dense.weight"].T, tensors["dense.bias"]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="artifacts/train/model.safetensors")
    parser.add_argument("--images", default="artifacts/data/test.parquet")
    parser.add_argument("--expected", default="artifacts/eval/predictions_test.csv")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--save", help="also save the Keras model here (.keras)")
    args = parser.parse_args()

    import keras

    model = seed_network(keras)
    load_weights(model, args.weights)
    images, expected = load_expected(args.expected, load_images(args.images))
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    if args.save:
        model.save(args.save)
    compare("keras", probabilities, expected, args.tolerance)


if __name__ == "__main__":
    main()
