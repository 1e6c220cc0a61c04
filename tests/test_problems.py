"""The problem registry (sweep/problems): picking a problem in a spec, declarations every
problem must satisfy, the README generated from them, and a toy problem added without
touching the engine, run through `sweep run`, `sweep status` and `sweep report`."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sweep import problems
from sweep.cli import EXIT_USAGE, main
from sweep.problems import DEFAULT_PROBLEM, get_problem, problem_names
from sweep.problems.parameters import ParamError, ProblemParams
from sweep.problems.schema import ENGINE_VARIABLES
from sweep.problems.docs import update_readme
from sweep.spec import SpecError, parse_spec
from sweep.store import open_store

README = Path(__file__).parent.parent / "README.md"
PRESETS = Path(__file__).parent.parent / "presets"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "toy_regression", "tests.toy_problem")
    return get_problem("toy_regression")


def test_a_spec_without_problem_is_separable():
    spec = parse_spec({"name": "old", "grid": {"seed": [0]}})
    assert spec.problem.name == DEFAULT_PROBLEM == "separable"
    assert spec.normalised()["problem"] == "separable"


def test_a_list_valued_parameter_cannot_be_swept():
    with pytest.raises(SpecError, match=r"'grid.bias_values'.*fixed parameter"):
        parse_spec({"name": "t", "problem": "biased_relu", "grid": {"bias_values": [[0.0, 1.0], [0.5, 0.5]]}})
    spec = parse_spec({"name": "t", "problem": "biased_relu", "params": {"m": 2, "bias_values": [0.0, 1.0]},
                       "grid": {"seed": [0]}})
    assert spec.fixed["bias_values"] == (0.0, 1.0)


def test_unknown_problem_is_refused_with_a_suggestion():
    with pytest.raises(SpecError, match=r"'problem'.*'separabel'.*did you mean 'separable'"):
        parse_spec({"name": "typo", "problem": "separabel", "grid": {"seed": [0]}})
    with pytest.raises(ParamError, match="known problems"):
        get_problem("nope")


def test_parameters_belong_to_the_spec_s_problem(toy):
    with pytest.raises(SpecError, match=r"'params.width'.*problem 'toy_regression'"):
        parse_spec({"name": "t", "problem": "toy_regression", "params": {"width": 3}, "grid": {"seed": [0]}})
    with pytest.raises(SpecError, match=r"'grid.stepz'.*did you mean 'steps'"):
        parse_spec({"name": "t", "problem": "toy_regression", "grid": {"stepz": [3]}})


@pytest.mark.parametrize("name", problem_names())
def test_every_registered_problem_declares_a_consistent_layout(name):
    problem = get_problem(name)
    assert issubclass(problem.params, ProblemParams)
    defaults = problem.params.defaults()
    problem.params.from_mapping(defaults)  # the defaults are valid
    layout = problem.layout(lambda key: (False, True) if isinstance(defaults[key], bool) else (defaults[key],))
    names = [v.name for v in layout.variables]
    assert len(names) == len(set(names)) and not set(names) & {v.name for v in ENGINE_VARIABLES}
    dims = {dim.name: dim for dim in layout.dims}
    for variable in layout.variables:
        assert set(variable.dims) <= set(dims), variable.name
        assert variable.units is None or isinstance(variable.units, str)
        np.array(variable.fill).astype(variable.dtype if variable.dtype != "str" else str)  # the fill fits the dtype
    for dim in dims.values():
        assert dim.values is None or len(dim.values) == dim.size
    for preset in problem.presets:
        spec = parse_spec_file(PRESETS / f"{preset}.yaml")
        assert spec.problem.name == name, preset
    problem.runner()  # the run function imports


def parse_spec_file(path: Path):
    from sweep.spec import load_spec

    return load_spec(path)


def test_readme_tables_are_generated_from_the_declarations():
    text = README.read_text()
    assert update_readme(text) == text, "run: python -m sweep problems --update-readme README.md"
    for name in problem_names():
        assert f"<!-- sweep problems {name} -->" in text, f"README has no generated tables for {name}"


def test_a_new_problem_runs_through_the_engine_untouched(toy, tmp_path, capsys):
    spec = tmp_path / "toy.yaml"
    spec.write_text("name: toy\nproblem: toy_regression\nparams: {d: 4, n: 40}\n"
                    "grid: {seed: [0, 1, 2], steps: [5, 300], lr: [0.1, 1.0e3]}\n")
    store = tmp_path / "toy.zarr"
    assert main(["run", str(spec), "--store", str(store), "--serial"]) == 0
    ds = open_store(store).load()
    assert ds["done"].all() and ds["rel_error"].dims == ("seed", "steps", "lr", "step")
    converged = ds.sel(steps=300, lr=0.1)
    assert (converged["status"] == 0).all() and (converged["final_error"] < 1e-3).all()
    assert np.isnan(ds["rel_error"].sel(steps=5).isel(step=slice(5, None))).all()  # past the run: fill
    assert (ds.sel(lr=1.0e3)["status"] == 1).all()  # a step size far too large: diverged

    capsys.readouterr()
    assert main(["status", str(store)]) == 0
    assert "total       12" in capsys.readouterr().out
    assert main(["report", str(store), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "problem `toy_regression`" in report and "| done | 3 |" in report and "| diverged | 6 |" in report

    spec.write_text("name: toy\nproblem: toy_regression\ngrid: {lr: [0.1, -1.0]}\n")
    assert main(["run", str(spec), "--store", str(tmp_path / "bad.zarr"), "--serial"]) == EXIT_USAGE
    assert "'lr'" in capsys.readouterr().err


# ---------------------------------------------------------------- parameters never load numerics

NAME_TABLES = [  # (the names a parameter may take, listed in params.py; the numerics' dict keyed by them)
    ("sweep.problems.separable.params:DATASETS", "sweep.problems.separable.datasets:DATASETS"),
    ("sweep.problems.separable.params:OPTIMIZERS", "sweep.problems.separable.optimizers:OPTIMIZERS"),
    ("sweep.problems.relu_pgd.params:CONSTRAINTS", "kernels.projections:PROJECTIONS"),
    ("sweep.problems.relu_student.params:INPUT_LAWS", "kernels.relu_student:INPUT_LAWS"),
    ("sweep.problems.relu_student.params:PENALTIES", "kernels.relu_student:PENALTIES"),
    ("sweep.problems.relu_student.params:LEARNERS", "kernels.relu_student:LEARNERS"),
]
LOAD_SPEC_CPU_SECONDS = 0.5


@pytest.mark.parametrize("names,numerics", NAME_TABLES, ids=[names for names, _ in NAME_TABLES])
def test_the_names_a_spec_is_checked_against_are_those_the_numerics_know(names, numerics):
    from sweep.problems.contract import imported

    assert sorted(imported(names)) == sorted(imported(numerics))


def test_reading_every_preset_loads_no_numerics_and_takes_under_half_a_second():
    """``load_spec`` of each preset, alone in a fresh process after the engine's own imports
    (yaml, numpy, the registry), imports neither Numba nor any kernel nor SciPy, and takes
    less than LOAD_SPEC_CPU_SECONDS of CPU time. Measured as the process's CPU time of that
    call alone, so that the load of other processes on a shared machine does not count;
    loading Numba and the kernels, which this contract forbids, takes several times that."""
    probe = ("import json, sys, time; import sweep.spec; start = time.process_time(); "
             "sweep.spec.load_spec(sys.argv[1]); seconds = time.process_time() - start; "
             "print(json.dumps({'seconds': seconds, 'heavy': sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('numba', 'kernels') or m.startswith('scipy'))}))")

    def load(preset: Path) -> tuple[str, dict]:
        result = subprocess.run([sys.executable, "-c", probe, str(preset)], cwd=README.parent, capture_output=True,
                                text=True, check=True)
        return preset.stem, json.loads(result.stdout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        measured = dict(pool.map(load, sorted(PRESETS.glob("*.yaml"))))
    assert len(measured) == len(list(PRESETS.glob("*.yaml"))) >= 20
    assert {name: m["heavy"] for name, m in measured.items() if m["heavy"]} == {}
    assert {name: m["seconds"] for name, m in measured.items() if m["seconds"] >= LOAD_SPEC_CPU_SECONDS} == {}
