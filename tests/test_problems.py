"""The problem registry (sweep/problems): picking a problem in a spec, declarations every
problem must satisfy, the README generated from them, and a toy problem added without
touching the engine, run through `sweep run`, `sweep status` and `sweep report`."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sweep import problems
from sweep.check import ProblemCheckError, check_problem
from sweep.cli import EXIT_USAGE, main
from sweep.problems import DEFAULT_PROBLEM, get_problem, problem_names
from sweep.problems.contract import DeclarationError, Problem
from sweep.problems.docs import update_readme
from sweep.problems.parameters import ParamError, ProblemParams, param
from sweep.spec import SpecError, parse_spec
from sweep.store import open_store
from tests import broken_parts, toy_problem

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


def test_the_engine_and_analysis_name_no_problem():
    """No string of the engine (sweep/, its problems aside) or of analysis/ names a
    registered problem (docstrings aside): the default is DEFAULT_PROBLEM, the rest is
    the problem's declaration."""
    root = README.parent
    named = {}
    for path in [*(root / "sweep").glob("*.py"), *(root / "analysis").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                for name in problem_names():
                    if re.search(rf"\b{name}\b", node.value):
                        named.setdefault(f"{path.relative_to(root)}:{node.lineno}", []).append(name)
    assert named == {}


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


# Small sweeps of each problem for check_problem: a few short runs each.
CHECKED = {
    "separable": {"n": 20, "n_test": 20, "d": 2, "width": 4, "max_epochs": 50},
    "relu_pgd": {"d": 100, "n": 80, "s": 4, "n_test": 50, "iterations": 10},
    "relu_student": {"d": 3, "m": 2, "M": 6, "batch": 100, "steps": 40},
    "biased_relu": {"d": 4, "m": 2, "N": 4000, "n_test": 200, "steps": 50, "refine_steps": 20},
}


def test_every_registered_problem_is_checked():
    assert set(CHECKED) == set(problem_names())


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_every_registered_problem_keeps_the_contract(name):
    check_problem(name, CHECKED[name])


def test_the_toy_problem_keeps_the_contract(toy):
    check_problem("toy_regression", {"d": 4, "n": 40}, {"seed": [0, 1], "steps": [5, 300]})


# ---------------------------------------------------------------- broken declarations and broken problems

def declaration(**changes) -> dict:
    """The toy problem's declaration with ``changes``."""
    return {**{f.name: getattr(toy_problem.PROBLEM, f.name) for f in dataclasses.fields(Problem)}, **changes}


@pytest.mark.parametrize("field,value,expected", [
    ("run", "tests.toy_problem:runn", "'run'.*defines no 'runn'"),
    ("run", "tests.no_such_module:run", "'run'.*'tests.no_such_module' is not found"),
    ("run", "tests.toy_problem.run", "'run'.*\"module:function\""),
    ("report", "tests.toy_problem", "'report'.*lacks checks, sections, summary, FIGURES"),
    ("report", "sweep.problems.separable.figures", "'report'.*lacks checks, sections, summary$"),
    ("run_many", "tests.toy_problem:run", "'batch_key'.*given with run_many"),
    ("batch_key", len, "'batch_key'.*only with run_many"),
    ("params", dict, "'params'.*subclassing ProblemParams"),
    ("layout", "tests.toy_problem:layout", "'layout'.*a function"),
    ("presets", ["toy"], "'presets'.*tuple"),
    ("name", "toy regression", "'name'.*identifier"),
])
def test_a_broken_declaration_is_refused_in_one_line_naming_the_field(field, value, expected):
    """``expected`` starts with the field the message names (run_many without batch_key: batch_key)."""
    with pytest.raises(DeclarationError, match="field " + expected) as refused:
        Problem(**declaration(**{field: value}))
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("problem 'toy_regression': " if field != "name" else "a problem's field")


def test_a_parameter_of_a_kind_a_spec_cannot_hold_is_refused():
    @dataclass(frozen=True)
    class TupleParams(ProblemParams):
        widths: tuple = param((), "widths")  # not a kind of KINDS ("tuple[float, ...]" is)

    with pytest.raises(DeclarationError, match=r"field 'params'.*'widths' is 'tuple'"):
        Problem(**declaration(params=TupleParams))


def test_a_broken_registered_problem_is_a_one_line_spec_error(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "broken", "tests.broken_problem")
    with pytest.raises(SpecError, match=r"spec key 'problem': problem 'broken'.*field 'run'.*defines no 'nowhere'"):
        parse_spec({"name": "b", "problem": "broken", "grid": {"seed": [0]}})


def test_registering_a_problem_checks_its_declaration(monkeypatch):
    monkeypatch.setattr(problems, "PROBLEMS", dict(problems.PROBLEMS))
    with pytest.raises(ParamError, match=r"^problem 'broken': field 'run'.*defines no 'nowhere'$"):
        problems.register("broken", "tests.broken_problem")
    assert "broken" not in problems.PROBLEMS
    with pytest.raises(ParamError, match=r"problem 'nowhere': its module tests.no_such_module does not declare it"):
        problems.register("nowhere", "tests.no_such_module")
    problems.register("toy_regression", "tests.toy_problem")
    assert get_problem("toy_regression") is toy_problem.PROBLEM


BROKEN = broken_parts.__name__


@pytest.mark.parametrize("changes,expected", [
    ({"run_many": f"{BROKEN}:run_many_of_the_next_run", "batch_key": lambda p: p.steps},
     r"run_many's result at grid index \(0,\) is not run's"),
    ({"run_many": "tests.toy_problem:run", "batch_key": lambda p: [p.steps]}, r"batch_key .* \[20\], not hashable"),
    ({"run": f"{BROKEN}:run_with_an_undeclared_variable"}, r"returned \['bogus'\], not variables of its layout"),
    ({"run": f"{BROKEN}:run_with_an_unknown_status"}, r"status 'finished', not one of"),
    ({"run": f"{BROKEN}:run_that_raises"}, r"its check sweep: FloatingPointError: the run at seed 0 overflowed"),
    ({"layout": broken_parts.layout_with_an_undeclared_dim},
     r"variable 'per_neuron' has undeclared dims \['neuron'\]"),
    ({"layout": broken_parts.layout_with_an_engine_variable},
     r"variables the engine writes itself: \['status'\]"),
    ({"report": BROKEN}, r"breaks a theorem: WARNING: the theorem: broken"),
    ({"presets": ("no_such_preset",)}, r"preset 'no_such_preset': no file"),
])
def test_check_problem_refuses_a_broken_problem_in_one_line(toy, monkeypatch, changes, expected):
    monkeypatch.setattr(toy_problem, "PROBLEM", Problem(**declaration(**changes)))
    with pytest.raises(ProblemCheckError, match=r"^problem 'toy_regression': .*" + expected) as refused:
        check_problem("toy_regression", {"d": 4, "n": 40})
    assert "\n" not in str(refused.value)


def test_check_problem_refuses_an_undocumented_parameter(toy, monkeypatch):
    @dataclass(frozen=True)
    class Undocumented(toy_problem.ToyParams):
        extra: int = 3

    monkeypatch.setattr(toy_problem, "PROBLEM", Problem(**declaration(params=Undocumented)))
    with pytest.raises(ProblemCheckError, match=r"^problem 'toy_regression': parameters without a meaning.*\['extra'\]"):
        check_problem("toy_regression", {"d": 4, "n": 40})


def test_check_problem_refuses_a_problem_that_is_not_registered():
    with pytest.raises(ProblemCheckError, match=r"^problem 'nope': ParamError: unknown problem 'nope'"):
        check_problem("nope")


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
    ("sweep.problems.separable.params:INITS", "sweep.problems.separable.run:INITS"),
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
