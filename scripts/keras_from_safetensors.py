#!/usr/bin/env python3
"""Loads hdr's model.safetensors into the same network in Keras (TensorFlow)
and checks its probabilities against hdr's own on the test split.

    python scripts/keras_from_safetensors.py                 # the defaults below
    python scripts/keras_from_safetensors.py model.safetensors --images test.csv --expected probs.csv
    python scripts/keras_from_safetensors.py --save model.keras   # also keep the Keras model

Defaults: artifacts/train/model.safetensors, artifacts/data/test.parquet and
artifacts/eval/predictions_test.csv. The network (seed or deep) is read from
the file's `architecture` metadata. The tensors map one to one: Keras
kernels are HWIO like hdr's conv weights, Keras' Flatten on NHWC is hdr's
flatten order (row, column, channel), and Keras' Dense kernel is hdr's
`[out, in]` weight transposed. Prints one JSON
line; exits 0 when every argmax agrees and max |dp| <= --tolerance, 1 when
not, 2 when an input cannot be read.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hdr_inputs import CLASSES, SIDE, compare, fail, load_expected, load_images  # noqa: E402

# hdr's networks: the Keras layers in order, each named after its tensors
# in model.safetensors (`NAME.weight`, `NAME.bias`) when it has weights.
def conv(keras, name, filters):
    return keras.layers.Conv2D(filters, 3, activation="relu", name=name)


def pool(keras):
    return keras.layers.MaxPooling2D(2)


def network(keras, architecture, dropout=0.3):
    """hdr's network `architecture` in Keras, layer for layer (as in hdr-model)."""
    layers = keras.layers
    if architecture == "seed":
        body = [conv(keras, "conv1", 32), pool(keras), conv(keras, "conv2", 64), pool(keras),
                layers.Flatten(), layers.Dropout(dropout),
                layers.Dense(CLASSES, activation="softmax", name="dense")]
    elif architecture == "deep":
        body = [conv(keras, "conv1", 32), conv(keras, "conv2", 32), pool(keras),
                conv(keras, "conv3", 64), conv(keras, "conv4", 64), pool(keras),
                layers.Flatten(), layers.Dense(128, activation="relu", name="hidden"),
                layers.Dropout(dropout), layers.Dense(CLASSES, activation="softmax", name="output")]
    else:
        fail(f"unknown architecture {architecture!r} (this recipe knows seed and deep)")
    return keras.Sequential([keras.Input((SIDE, SIDE, 1)), *body])


def load_weights(model, path):
    """Copies the safetensors tensors into the Keras layers, checking names and
    shapes. Keras kernels are HWIO like hdr's conv weights; Keras' Dense
    kernel is hdr's `[out, in]` weight transposed."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except Exception as exc:  # noqa: BLE001
        fail(f"{path}: not a readable safetensors file ({exc})")
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel_shape, bias_shape = (tuple(w.shape) for w in layer.weights)
        weight_name, bias_name = f"{layer.name}.weight", f"{layer.name}.bias"
        for name in (weight_name, bias_name):
            if name not in tensors:
                fail(f"{path}: missing tensor {name} for the Keras layer {layer.name}")
        weight = tensors[weight_name]
        if len(kernel_shape) == 2:  # Dense: hdr stores [out, in]
            weight = weight.T
        for name, value, shape in ((weight_name, weight, kernel_shape),
                                   (bias_name, tensors[bias_name], bias_shape)):
            if tuple(value.shape) != shape:
                fail(f"{path}: tensor {name} has shape {tensors[name].shape}, "
                     f"which does not fit the Keras layer's {shape}")
        layer.set_weights([weight, tensors[bias_name]])
        used.update((weight_name, bias_name))
    unused = sorted(set(tensors) - used)
    if unused:
        fail(f"{path}: tensors the network does not use: {', '.join(unused)}")


def architecture_of(path):
    """The `architecture` entry of the file's metadata (hdr writes it; older files: seed)."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            return (f.metadata() or {}).get("architecture", "seed")
    except Exception as exc:  # noqa: BLE001
        fail(f"{path}: not a readable safetensors file ({exc})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="artifacts/train/model.safetensors")
    parser.add_argument("--images", default="artifacts/data/test.parquet")
    parser.add_argument("--expected", default="artifacts/eval/predictions_test.csv")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--save", help="also save the Keras model here (.keras)")
    args = parser.parse_args()

    import keras

    model = network(keras, architecture_of(args.weights))
    load_weights(model, args.weights)
    images, expected = load_expected(args.expected, load_images(args.images))
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    if args.save:
        model.save(args.save)
    compare("keras", probabilities, expected, args.tolerance)


if __name__ == "__main__":
    main()
