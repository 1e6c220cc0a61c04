"""The command line (sweep/cli.py): errors before any work, store identity, status and show."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import xarray as xr

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
    renamed = write_spec(tmp_path, SPEC.replace("name: cli", "name: other\ndescription: relabelled"), "renamed.yaml")
    capsys.readouterr()
    assert main(["run", renamed, "--store", store, "--serial"]) == 0  # the same computation: resumes
    assert "ran 0 runs" in capsys.readouterr().out
    other = write_spec(tmp_path, SPEC.replace("name: cli", "name: other").replace("max_epochs: 5", "max_epochs: 6"),
                       "other.yaml")
    assert main(["run", other, "--store", store, "--serial"]) == EXIT_USAGE
    assert "which spec 'other' does not extend: max_epochs is 5 in the store, 6 in the spec;" in capsys.readouterr().err
    assert open_store(store).attrs["spec"]["name"] == "cli"

    assert main(["run", other, "--store", store, "--serial", "--overwrite"]) == 0
    assert open_store(store).attrs["spec"]["name"] == "other"
    assert bool(open_store(store)["done"].all())

    capsys.readouterr()
    assert main(["run", other, "--store", store, "--serial"]) == 0  # finished: nothing to do
    assert "ran 0 runs" in capsys.readouterr().out


def test_overwrite_of_the_same_sweep_needs_force(tmp_path, capsys):
    """Case 7: --overwrite on a store of this very spec would discard its finished runs."""
    store = str(tmp_path / "s.zarr")
    spec = write_spec(tmp_path)
    assert main(["run", spec, "--store", store, "--serial"]) == 0
    before = open_store(store).load()
    assert main(["run", spec, "--store", store, "--serial", "--overwrite"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "holds this same sweep with 4 finished runs" in err and "--force" in err
    xr.testing.assert_identical(open_store(store).load(), before)  # nothing lost
    assert main(["run", spec, "--store", store, "--serial", "--force"]) == EXIT_USAGE  # --force alone: refused
    assert main(["run", spec, "--store", store, "--serial", "--overwrite", "--force"]) == 0
    assert (open_store(store)["wall_time"].values != before["wall_time"].values).any()  # run again


def test_a_store_in_use_is_refused_naming_its_holder(tmp_path, capsys):
    """Case 7: a second `sweep run` on a store is refused while the first holds it."""
    from sweep.lock import StoreLock

    store = tmp_path / "s.zarr"
    with StoreLock(store):
        assert main(["run", write_spec(tmp_path), "--store", str(store), "--serial"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"in use by another `sweep run` (pid {os.getpid()}" in err and err.count("\n") == 1
    assert not store.exists()


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


# ---------------------------------------------------------------- one-line errors (issue 18, case 8)

def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def test_number_too_big_and_non_utf8_specs(tmp_path, capsys):
    store = tmp_path / "never.zarr"
    lr = write_spec(tmp_path, add_to_spec("params: {lr: " + "9" * 400 + "}\n"), "lr.yaml")
    assert main(["run", lr, "--store", str(store), "--serial"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert one_line(err) and "'lr'" in err and "64-bit float" in err and len(err) < 400
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(SPEC.replace("name: cli", "name: caf\xe9").encode("latin-1"))
    assert main(["run", str(latin), "--store", str(store), "--serial"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert one_line(err) and "not UTF-8" in err and not store.exists()


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_foreign_zarr_group_is_refused_and_untouched(tmp_path, capsys, zarr_format):
    import zarr

    foreign = tmp_path / "foreign.zarr"
    zarr.open_group(str(foreign), mode="w", zarr_format=zarr_format).create_array("x", shape=(3,), dtype="f8")
    files = sorted(p.relative_to(foreign) for p in foreign.rglob("*"))
    for command in (["run", write_spec(tmp_path), "--store", str(foreign), "--serial", "--overwrite"],
                    ["status", str(foreign)], ["show", str(foreign)], ["verify", str(foreign)],
                    ["report", str(foreign), "--out", str(tmp_path / "out")]):
        assert main(command) == EXIT_USAGE, command
        err = capsys.readouterr().err
        assert one_line(err) and "not a sweep store" in err, err
    assert sorted(p.relative_to(foreign) for p in foreign.rglob("*")) == files


def test_report_on_a_non_store_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert one_line(capsys.readouterr().err)


def test_overwrite_through_a_symlink_and_a_dangling_symlink(tmp_path, capsys):
    real, link = tmp_path / "real.zarr", tmp_path / "link.zarr"
    assert main(["run", write_spec(tmp_path), "--store", str(real), "--serial"]) == 0
    link.symlink_to(real)
    other = write_spec(tmp_path, SPEC.replace("max_epochs: 5", "max_epochs: 6"), "other.yaml")
    assert main(["run", other, "--store", str(link), "--serial", "--overwrite"]) == 0
    assert link.is_symlink() and open_store(link).attrs["spec"]["params"]["max_epochs"] == 6
    assert open_store(real).attrs["spec"]["params"]["max_epochs"] == 6
    dangling, target = tmp_path / "dangling.zarr", tmp_path / "elsewhere" / "target.zarr"
    dangling.symlink_to(target)
    assert main(["run", write_spec(tmp_path), "--store", str(dangling), "--serial"]) == 0
    assert bool(open_store(target)["done"].all()) and dangling.resolve() == target


def unprivileged(command: list[str]) -> list[str]:
    """``command`` run as user nobody when the tests run as root (root ignores permissions)."""
    if os.getuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


@pytest.fixture
def shared(tmp_path):
    """A folder every user can read (and write ``rw/``, not ``ro/``), outside pytest's private tmp."""
    folder = Path(tempfile.mkdtemp(prefix="sweep-ro-"))
    (folder / "ro").mkdir()
    (folder / "rw").mkdir()
    for path, mode in ((folder, 0o755), (folder / "ro", 0o755), (folder / "rw", 0o777)):
        path.chmod(mode)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def sweep_as_nobody(shared: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HOME": str(shared / "rw"),
           "MPLCONFIGDIR": str(shared / "rw"), "NUMBA_CACHE_DIR": str(shared / "rw")}
    reachable = subprocess.run(unprivileged([sys.executable, "-c", "import sweep.cli"]), capture_output=True, env=env)
    if reachable.returncode != 0:  # e.g. a checkout inside a folder only its owner may enter (mktemp -d)
        pytest.skip("user nobody cannot read this checkout or its Python")
    return subprocess.run(unprivileged([sys.executable, "-m", "sweep", *args]), capture_output=True, text=True,
                          env=env, timeout=180)


def test_read_only_places_fail_before_any_run(shared):
    """Case 8: a read-only parent, a read-only store and a read-only --out: one line, exit 2,
    before any run is computed."""
    spec = shared / "spec.yaml"
    spec.write_text(SPEC)
    spec.chmod(0o644)
    result = sweep_as_nobody(shared, "run", str(spec), "--store", str(shared / "ro" / "new.zarr"), "--serial")
    assert result.returncode == EXIT_USAGE and one_line(result.stderr) and "Permission denied" in result.stderr
    assert list((shared / "ro").iterdir()) == []

    store = shared / "rw" / "s.zarr"
    assert main(["run", str(spec), "--store", str(store), "--serial"]) == 0
    done_before = open_store(store).load()
    other = shared / "other.yaml"
    other.write_text(SPEC.replace("max_epochs: 5", "max_epochs: 6"))
    other.chmod(0o644)
    result = sweep_as_nobody(shared, "run", str(other), "--store", str(store), "--serial", "--overwrite")
    assert result.returncode == EXIT_USAGE and one_line(result.stderr) and "read-only" in result.stderr, result.stderr
    xr.testing.assert_identical(open_store(store).load(), done_before)
    assert sorted(p.name for p in (shared / "rw").iterdir() if p.name.startswith("s.zarr")) == ["s.zarr"]

    result = sweep_as_nobody(shared, "report", str(store), "--out", str(shared / "ro" / "report"))
    assert result.returncode == EXIT_USAGE and one_line(result.stderr), result.stderr
    assert "Permission denied" in result.stderr


def test_closed_pipe_is_quiet(tmp_path):
    """`sweep status PATH | head`: the reader is gone before anything is written."""
    store = tmp_path / "s.zarr"
    assert main(["run", write_spec(tmp_path), "--store", str(store), "--serial"]) == 0
    for command in (["status", str(store)], ["show", str(store)], ["problems"]):
        read, write = os.pipe()
        os.close(read)
        result = subprocess.run([sys.executable, "-m", "sweep", *command], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120)
        os.close(write)
        assert result.returncode == 141 and result.stderr == "", result.stderr


# ---------------------------------------------------------------- the scheduler config (issue 18, case 3)

@pytest.mark.parametrize("config, expected, seconds", [
    ("scheduler_file: {folder}/nowhere.json\ntimeout: 1\n", "nowhere.json' (scheduler config key 'scheduler_file') "
                                                            "does not exist after 1 s", 20),
    ("address: tcp://127.0.0.1:1\ntimeout: 2\n", "cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 2 s",
     30),
    ("address: notaurl\n", "'address' must be a Dask scheduler address like tcp://10.0.0.5:8786, got 'notaurl'", 5),
    ("local: {memory_limit: lots}\n", "'local.memory_limit' must be a size in bytes", 5),
    ("local: {n_wrokers: 2}\n", "did you mean 'n_workers'", 5),
    ("timeout: -1\n", "'timeout' must be a number of seconds > 0", 5),
])
def test_scheduler_problems_fail_fast_before_anything_is_created(tmp_path, capsys, config, expected, seconds):
    scheduler = write_spec(tmp_path, config.replace("{folder}", str(tmp_path)), "scheduler.yaml")
    store = tmp_path / "never.zarr"
    start = time.monotonic()
    assert main(["run", write_spec(tmp_path), "--store", str(store), "--scheduler", scheduler]) == EXIT_USAGE
    assert time.monotonic() - start < seconds
    err = capsys.readouterr().err
    assert one_line(err) and expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scheduler.yaml", "spec.yaml"]


# ---------------------------------------------------------------- first contact (issue 18, case 10)

@pytest.mark.slow
def test_a_normal_run_prints_no_dask_warnings(tmp_path):
    """With port 8787 taken, a local-cluster run picks another dashboard port quietly and
    prints the link; its stderr holds the progress bar and nothing else."""
    import socket

    with socket.socket() as taken:
        try:
            taken.bind(("", 8787))
            taken.listen()
        except OSError:
            pass  # already taken by someone else: the same situation
        result = subprocess.run([sys.executable, "-m", "sweep", "run", write_spec(tmp_path), "--store",
                                 str(tmp_path / "s.zarr")], capture_output=True, text=True, timeout=300,
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    link = re.search(r"Dask dashboard: http://[\d.]+:(\d+)/status", result.stdout)
    assert link and link.group(1) != "8787"
    noise = [line for line in re.split(r"[\r\n]", result.stderr) if line.strip() and "run/s" not in line
             and not re.match(r"\s*\d+%\|", line)]
    assert noise == [], noise


def test_cold_kernel_cache_is_detected(tmp_path):
    """`sweep run` says "compiling kernels" only when the disk cache has no machine code."""
    code = ("from sweep.engine import kernels_need_compiling; from sweep.spec import parse_spec; "
            "print(kernels_need_compiling(parse_spec({'name': 'x', 'grid': {'seed': [0]}})))")
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert (warm.stdout.strip(), cold.stdout.strip()) == ("False", "True"), (warm.stderr, cold.stderr)


def test_first_run_says_it_compiles_while_it_does(tmp_path):
    """With an empty kernel cache (a fresh machine), `sweep run` says so before it compiles
    (read while the process is still busy compiling, then stopped)."""
    process = subprocess.Popen([sys.executable, "-m", "sweep", "run", write_spec(tmp_path), "--store",
                                str(tmp_path / "s.zarr"), "--serial"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        still_compiling = process.poll() is None and not any((tmp_path / "s.zarr" / "done").glob("c.*"))
    finally:
        process.kill()
        process.wait()
    assert lines[1] == "compiling kernels on 1 worker (first run only)\n", lines
    assert still_compiling
