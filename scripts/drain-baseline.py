#!/usr/bin/env python3
"""Python Drain (drain3, the logpai/IBM implementation) on the Loghub-2k contents: lines/s.

The baseline `srebot eval logparse` and `cargo bench -p bench --bench logs` are compared
against. Reads each system's `*_2k.log_structured.csv` Content column (the header-stripped
message, the same text our miner sees) and times drain3's TemplateMiner over all of them.

    pip3 install --break-system-packages drain3
    scripts/drain-baseline.py [../shared/datasets/loghub]
"""
import csv
import json
import pathlib
import sys
import time

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/loghub")
lines = []
for structured in sorted(root.glob("*/*_2k.log_structured.csv")):
    with structured.open(newline="", encoding="utf-8", errors="replace") as f:
        lines.extend(row["Content"] for row in csv.DictReader(f))

config = TemplateMinerConfig()
config.profiling_enabled = False
rounds = 3
start = time.perf_counter()
for _ in range(rounds):
    miner = TemplateMiner(config=config)
    for line in lines:
        miner.add_log_message(line)
seconds = time.perf_counter() - start
rate = len(lines) * rounds / seconds
print(f"drain3: {len(lines)} lines x {rounds} rounds, {rate:.0f} lines/s, {len(miner.drain.clusters)} templates")
print(json.dumps({"implementation": "drain3", "lines": len(lines), "lines_per_sec": rate}))
