"""Scoring big files: peak memory against file size (one machine), throughput with 1 and 2
Dask workers. Writes results/big_file.md.

    python benchmarks/big_file.py            # 1M, 3M and 10M rows (~2 minutes)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
MODEL = HERE.parent / "src" / "npinfer" / "demo" / "rnn_sample.keras"  # the article's model, look-back 4

LSTM_MODEL = HERE.parent / "tests" / "fixtures" / "tf_keras" / "lstm_variable_time" / "model.h5"  # LSTM(5), 4 features
LSTM_ROWS = 2_000_000


def _lstm_rows(rng) -> Path:
    path = WORK / f"lstm_rows_{LSTM_ROWS}.npy"
    if not path.exists():
        np.save(path, rng.normal(size=(LSTM_ROWS, 4)).astype(np.float32))
    return path


RUN = ("import sys, time; from npinfer.cli import main; t = time.perf_counter(); code = main(sys.argv[1:]); "
       "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
       "print('RESULT', code, time.perf_counter() - t, hwm)")


def run_cli(*args: str) -> tuple[float, float]:
    """(seconds, peak RSS MB) of `npinfer ...` in a fresh process."""
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True)
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT")]
    if done.returncode != 0 or not line or line[0].split()[1] != "0":
        raise SystemExit(done.stderr[-3000:])
    _, _, seconds, hwm = line[0].split()
    return float(seconds), int(hwm) / 1024


def main() -> None:
    WORK.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    lines = ["| rows | input | file MB | seconds | rows/s | peak RSS MB |", "|---:|---|---:|---:|---:|---:|"]
    for rows in (1_000_000, 3_000_000, 10_000_000):
        path = WORK / f"rows_{rows}.npy"
        if not path.exists():
            np.save(path, rng.normal(size=(rows, 3)).astype(np.float32))
        seconds, peak = run_cli("predict", str(MODEL), str(path), "--look-back", "4", "--quiet", "-o", str(WORK / "out.npy"))
        lines.append(f"| {rows:,} | .npy | {path.stat().st_size / 1e6:,.0f} | {seconds:.1f} | {rows / seconds:,.0f} | {peak:.0f} |")
        print(lines[-1], flush=True)
    csv_path = WORK / "rows_1000000.csv"
    if not csv_path.exists():
        np.savetxt(csv_path, np.load(WORK / "rows_1000000.npy"), delimiter=",", fmt="%.6f", header="X1,X2,X3", comments="")
    seconds, peak = run_cli("predict", str(MODEL), str(csv_path), "--look-back", "4", "--quiet", "-o", str(WORK / "out.csv"))
    lines.append(f"| 1,000,000 | .csv | {csv_path.stat().st_size / 1e6:,.0f} | {seconds:.1f} | {1e6 / seconds:,.0f} | {peak:.0f} |")
    print(lines[-1], flush=True)
    dask_lines = ["| model | rows | workers | seconds | rows/s | output bit-identical to one process |", "|---|---:|---|---:|---:|---|"]
    for label, model, path, look_back, rows in (
        ("article SimpleRNN(3), look-back 4", MODEL, WORK / "rows_10000000.npy", "4", 10_000_000),
        ("LSTM(5), look-back 20", LSTM_MODEL, _lstm_rows(rng), "20", LSTM_ROWS),
    ):
        for workers in (None, 1, 2):
            extra = [] if workers is None else ["--dask", f"local:{workers}", "--chunk-rows", "250000"]
            out = WORK / ("out_one.npy" if workers is None else "out_dask.npy")
            start = time.perf_counter()
            run_cli("predict", str(model), str(path), "--look-back", look_back, "--quiet", *extra, "-o", str(out))
            seconds = time.perf_counter() - start
            same = "-" if workers is None else ("yes" if np.array_equal(np.load(out), np.load(WORK / "out_one.npy")) else "NO")
            dask_lines.append(f"| {label} | {rows:,} | {'one process' if workers is None else f'Dask local:{workers}'} | "
                              f"{seconds:.1f} | {rows / seconds:,.0f} | {same} |")
            print(dask_lines[-1], flush=True)
    text = ("Peak memory of `npinfer predict` streaming a file (the article's model, look-back 4, chunks of 100,000 rows):\n\n"
            + "\n".join(lines) + "\n\nOne process against a local Dask cluster of 1 and 2 worker processes (wall time of the "
            "whole command, cluster start-up included; this machine has 2 cores):\n\n" + "\n".join(dask_lines) + "\n")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "big_file.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
