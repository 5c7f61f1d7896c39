#!/usr/bin/env python3
"""Checks an ONNX model written by `cargo xtask export`: onnx's checker, then
onnxruntime's probabilities against hdr's own on the test split.

    python scripts/check_onnx.py                      # the defaults below
    python scripts/check_onnx.py model.onnx --images test.csv --expected probs.csv

Defaults: artifacts/export/model.onnx, artifacts/data/test.parquet and
artifacts/eval/predictions_test.csv (run `cargo xtask pipeline` and
`cargo xtask export` first). The model's input is float32 [N, 28, 28, 1]
(NHWC), pixel bytes / 255. Prints one JSON line with the agreement; exits 0
when every argmax agrees and max |dp| <= --tolerance, 1 when not, 2 when an
input cannot be read (a truncated model, say).
"""

import argparse

import numpy as np

from hdr_inputs import compare, fail, load_expected, load_images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="artifacts/export/model.onnx")
    parser.add_argument("--images", default="artifacts/data/test.parquet")
    parser.add_argument("--expected", default="artifacts/eval/predictions_test.csv")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    import onnx
    import onnxruntime as ort

    try:
        model = onnx.load(args.model)
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001 - a file that does not load or check is a bad input
        fail(f"{args.model} is not a valid ONNX model: {type(exc).__name__}: {exc}")
    images, expected = load_expected(args.expected, load_images(args.images))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    probabilities = session.run(None, {input_name: images.astype(np.float32)})[0]
    compare("onnxruntime", probabilities, expected, args.tolerance)


if __name__ == "__main__":
    main()
