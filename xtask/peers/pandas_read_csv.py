#!/usr/bin/env python3
"""pandas' read_csv of a Kaggle-style CSV, timed (import excluded): the data stage's peer.

Run: .venv-peers/bin/python xtask/peers/pandas_read_csv.py train.csv
Prints one JSON line: {"seconds": ..., "rows": ...}.
"""
import json, sys, time

import pandas as pd


def main():
    started = time.perf_counter()
    frame = pd.read_csv(sys.argv[1])
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": len(frame)}))


if __name__ == "__main__":
    main()
