"""A store of 10^6 (or 10^7) trivial runs: how fast it is written, how many files it holds,
and how long the commands take on it (issue 27).

The spec is SPEC: `relu_pgd` with d = 4, 3 PGD iterations, n = n_test = 16, on a grid of
data_seed x seed (1000 seeds), RUNS runs. Through the real CLI, in fresh processes, on
the default cluster (./scheduler.yaml: a local cluster of 2 one-thread workers) or the
one ``--scheduler`` names, the kernels' disk cache warmed first by a 1000-run sweep that
is not timed, it times:
  run      `sweep run SPEC --store S` (a new store): runs/s over its whole wall time;
  status   `sweep status S`;
  open     a new Python process that opens S (`sweep.store.open_store`) and sums `done`;
  verify   `sweep verify S` (every chunk decoded and checked against its manifest);
  report   `sweep report S --out R`;
  resume   `sweep run SPEC --store S` again, nothing left to do;
and prints each command's wall time and peak RSS, and the store's files and bytes, next
to the issue's targets and its table measured before (on 9cbaaf1, format /3, the
machine of that day: a reference, not a measurement of this run).

    .venv/bin/python benchmarks/bench_scale.py [--runs 1e6 | --runs 1e7] [--scheduler FILE] [--dir DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 1000
PARAMS = {"d": 4, "s": 2, "iterations": 3, "n": 16, "n_test": 16}
TARGETS = {"files": "<= 10,000 at 10^7", "status": "< 2 s", "open": "< 2 s", "verify": "bounded memory",
           "report": "< 2 min, bounded memory", "resume": "< 5 s"}
BEFORE = {  # issue 27's table (9cbaaf1, format /3): runs -> column -> value
    10**5: {"run": "48 s", "files": "4,863", "bytes": "23 MB", "status": "0.86 s", "open": "2.6 s",
            "report": "11.6 s"},
    10**6: {"run": "149 s (6,900 runs/s)", "files": "34,563", "bytes": "169 MB", "status": "1.9 s", "open": "3.5 s",
            "verify": "9.7 s", "report": "52 s, 586 MB RSS", "resume": "9.2 s"},
}
OPEN_AND_SUM = "import sys; from sweep.store import open_store; print(int(open_store(sys.argv[1])['done'].sum()))"


def spec_file(folder: Path, runs: int) -> Path:
    """SPEC with ``runs`` runs (a multiple of SEEDS) as a YAML file in ``folder``."""
    path = folder / f"scale_{runs}.yaml"
    spec = {"name": f"scale_{runs}", "problem": "relu_pgd", "params": PARAMS,
            "grid": {"data_seed": list(range(runs // SEEDS)), "seed": list(range(SEEDS))}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None))
    return path


def timed(*command: str) -> tuple[float, int]:
    """Run ``command`` (output discarded, must succeed); its wall time (s) and peak RSS (bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors}")
    return seconds, usage.ru_maxrss * 1024


def sweep(*args: str) -> tuple[float, int]:
    return timed(sys.executable, "-m", "sweep", *args)


def store_size(store: Path) -> tuple[int, int]:
    """Files and bytes (apparent sizes) below ``store``."""
    files = [Path(folder) / name for folder, _, names in os.walk(store) for name in names]
    return len(files), sum(path.stat().st_size for path in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=float, default=1e6, help="runs of the sweep, a multiple of 1000 (1e6, 1e7)")
    parser.add_argument("--scheduler", metavar="FILE", help="scheduler config (default: ./scheduler.yaml)")
    parser.add_argument("--dir", help="where the stores go (default: a temporary directory)")
    args = parser.parse_args()
    runs = int(args.runs)
    if runs < SEEDS or runs % SEEDS:
        parser.error(f"--runs must be a multiple of {SEEDS}, got {args.runs}")
    cluster = ["--scheduler", args.scheduler] if args.scheduler else []
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        folder = Path(folder)
        spec, store = spec_file(folder, runs), folder / "scale.zarr"
        sweep("run", str(spec_file(folder, SEEDS)), "--store", str(folder / "warm.zarr"), *cluster)
        measured = {"run": sweep("run", str(spec), "--store", str(store), "--max-runs", str(runs), *cluster)}
        files, size = store_size(store)
        measured["status"] = sweep("status", str(store))
        measured["open"] = timed(sys.executable, "-c", OPEN_AND_SUM, str(store))
        measured["verify"] = sweep("verify", str(store))
        measured["report"] = sweep("report", str(store), "--out", str(folder / "report"))
        measured["resume"] = sweep("run", str(spec), "--store", str(store), "--max-runs", str(runs), *cluster)
    before = BEFORE.get(runs, {})
    print(f"{runs:,} runs of relu_pgd {PARAMS} (grid data_seed x seed), 2 workers unless --scheduler says otherwise")
    print(f"{'':8} {'now':>34}   {'target':>24}   before (issue 27, 9cbaaf1: a reference, not this run)")
    print(f"{'files':8} {files:>34,}   {TARGETS['files']:>24}   {before.get('files', '-')}")
    print(f"{'bytes':8} {size / 1e6:>31.0f} MB   {'':>24}   {before.get('bytes', '-')}")
    for name, (seconds, rss) in measured.items():
        now = f"{seconds:.2f} s, {rss / 2**20:.0f} MiB RSS"
        now += f" ({runs / seconds:,.0f} runs/s)" if name == "run" else ""
        print(f"{name:8} {now:>34}   {TARGETS.get(name, ''):>24}   {before.get(name, '-')}")


if __name__ == "__main__":
    main()
