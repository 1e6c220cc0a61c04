"""The command line (sweep/cli.py): errors before any work, store identity, status and show."""
import subprocess
import sys

import pytest

from sweep.cli import EXIT_USAGE, SUBCOMMANDS, main
from sweep.store import open_store

SPEC = """\
name: cli
params: {n: 20, n_test: 10, d: 3, max_epochs: 5}
grid:
  seed: [0, 1]
  alpha: [0.1, 0.5]
"""

BAD_SPECS = {
    "unknown top-level key": ("colour: red\n", "colour", "red"),
    "unknown parameter": ("grid:\n  sead: [0]\n", "sead", "[0]"),
    "wrong type": ("params: {lr: fast}\n", "lr", "fast"),
    "empty list": ("grid:\n  width: []\n", "width", "[]"),
    "duplicate value": ("grid:\n  width: [4, 4]\n", "width", "4"),
    "key in both sections": ("params: {alpha: 0.3}\n", "alpha", "0.1"),
    "bad value": ("grid:\n  init_scale: [0.1, -1.0]\n", "init_scale", "-1.0"),
}


def write_spec(folder, text=SPEC, name="spec.yaml"):
    path = folder / name
    path.write_text(text)
    return str(path)


def add_to_spec(extra: str) -> str:
    """SPEC with ``extra`` merged in (a repeated section key replaces SPEC's)."""
    head, grid = SPEC.split("grid:\n")
    if extra.startswith("grid:"):
        return head + extra + grid
    if extra.startswith("params:"):
        return SPEC.replace("params: {", extra.rstrip("}\n") + ", ", 1)
    return SPEC + extra


@pytest.mark.parametrize("kind", BAD_SPECS)
def test_bad_spec_fails_before_any_work(kind, tmp_path, capsys):
    extra, key, value = BAD_SPECS[kind]
    store = tmp_path / "never.zarr"
    code = main(["run", write_spec(tmp_path, add_to_spec(extra)), "--store", str(store), "--serial"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and key in err and value in err, err
    assert "Traceback" not in err and not store.exists()


def test_bad_scheduler_file_fails_before_any_work(tmp_path, capsys):
    scheduler = write_spec(tmp_path, "address: tcp://1.2.3.4:8786\nlocal: {n_workers: zero}\n", "scheduler.yaml")
    store = tmp_path / "never.zarr"
    assert main(["run", write_spec(tmp_path), "--store", str(store), "--scheduler", scheduler]) == EXIT_USAGE
    assert "local.n_workers" in capsys.readouterr().err and not store.exists()


def test_store_of_another_spec_is_refused_unless_overwrite(tmp_path, capsys):
    store = str(tmp_path / "s.zarr")
    assert main(["run", write_spec(tmp_path), "--store", store, "--serial"]) == 0
    other = write_spec(tmp_path, SPEC.replace("name: cli", "name: other"), "other.yaml")
    assert main(["run", other, "--store", store, "--serial"]) == EXIT_USAGE
    assert "different sweep" in capsys.readouterr().err
    assert open_store(store).attrs["spec"]["name"] == "cli"

    assert main(["run", other, "--store", store, "--serial", "--overwrite"]) == 0
    assert open_store(store).attrs["spec"]["name"] == "other"
    assert bool(open_store(store)["done"].all())

    capsys.readouterr()
    assert main(["run", other, "--store", store, "--serial"]) == 0  # finished: nothing to do
    assert "ran 0 runs" in capsys.readouterr().out


def test_non_store_directory_is_never_touched(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep")
    assert main(["run", write_spec(tmp_path), "--store", str(folder), "--serial", "--overwrite"]) == EXIT_USAGE
    assert "not a sweep store" in capsys.readouterr().err and (folder / "precious.txt").exists()


def test_status_and_show(tmp_path, capsys):
    store = str(tmp_path / "s.zarr")
    main(["run", write_spec(tmp_path), "--store", store, "--serial"])
    capsys.readouterr()
    assert main(["status", store]) == 0
    out = capsys.readouterr().out
    assert "total       4" in out and "remaining   0" in out and "failed" in out and "diverged" in out
    assert main(["show", store]) == 0
    out = capsys.readouterr().out
    assert "<xarray.Dataset>" in out and "seed: 2" in out and "final_loss" in out and "spec 'cli'" in out
    assert main(["status", str(tmp_path)]) == EXIT_USAGE


def test_subcommands_are_registered():
    assert {"run", "status", "show"} <= set(SUBCOMMANDS)


def test_python_dash_m_reports_errors_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sweep", "run", write_spec(tmp_path, "name: x\ngrid: {seed: []}\n"),
                             "--store", str(tmp_path / "s.zarr")], capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_USAGE and "seed" in result.stderr and "Traceback" not in result.stderr
