"""Imports run downwards (README, Layout): no import cycle, analysis never reaches up into
the engine (nor kernels into either), counting the imports written as strings (a
problem's run and report modules, the registry, ``importlib.import_module("...")``); every
module imports on its own, and the light commands stay light."""
from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = ("kernels", "sweep", "analysis")
ENGINE = ("sweep.spec", "sweep.engine", "sweep.tasks", "sweep.store", "sweep.cli", "sweep.cluster")
# Imports written as strings, imported at run time: the first argument of these calls, the
# "module" or "module:function" of these keywords of a Problem declaration, and the values
# of the problem registry.
IMPORTING_CALLS = ("importlib.import_module", "import_module", "__import__")
PROBLEM_IMPORT_FIELDS = ("run", "run_many", "report")
REGISTRY = "PROBLEMS"


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path], top_level_only: bool) -> set[str]:
    """The project modules ``name`` imports: with ``import`` at module level only, or also
    inside functions and by the string imports of :func:`string_imports` (run-time imports);
    importing a module imports its parent packages too."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports for type checkers only are never executed
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    targets = set() if top_level_only else string_imports(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix in known and prefix != name:
                resolved.add(prefix)
    return resolved


def string_imports(tree: ast.Module) -> set[str]:
    """The modules named by constant strings that the code imports at run time: arguments
    of IMPORTING_CALLS, PROBLEM_IMPORT_FIELDS of a ``Problem(...)`` and the REGISTRY's values."""
    def text(node) -> str | None:
        return node.value.split(":")[0] if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called in IMPORTING_CALLS and node.args:
                found.add(text(node.args[0]))
            if called.split(".")[-1] == "Problem":
                found.update(text(keyword.value) for keyword in node.keywords if keyword.arg in PROBLEM_IMPORT_FIELDS)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == REGISTRY for target in targets):
                found.update(text(value) for value in node.value.values)
    return found - {None}


def import_graph(root: Path = ROOT, top_level_only: bool = False) -> dict[str, set[str]]:
    """Each module of the tree at ``root`` -> the project modules it imports."""
    known = modules(root)
    return {name: imports_of(name, path, known, top_level_only) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan). A package's
    ``__init__`` may import its own submodules (re-exports, the registry): that edge is not
    a cycle."""
    graph = {name: {other for other in graph[name] if not other.startswith(name + ".")} for name in graph}
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def reaching_up(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each module of ``kernels`` or ``analysis`` -> the modules above it that it imports:
    kernels import neither sweep nor analysis, analysis imports nothing of sweep."""
    above = {"kernels": ("sweep", "analysis"), "analysis": ("sweep",)}
    found = {}
    for name, reached in graph.items():
        up = sorted(other for other in reached if other.split(".")[0] in above.get(name.split(".")[0], ()))
        if up:
            found[name] = up
    return found


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module level", "with run-time and string imports"])
def test_no_import_cycle(top_level_only):
    assert cycles(import_graph(top_level_only=top_level_only)) == []


def test_analysis_and_kernels_never_reach_up():
    assert reaching_up(import_graph()) == {}


def test_string_imports_are_followed(tmp_path):
    """The checker itself, on a source tree of its own: a module that reaches up, or closes
    a cycle, only through an import written as a string is caught; the same imports
    written in docstrings or messages are not imports."""
    files = {
        "kernels/__init__.py": "",
        "kernels/step.py": '"""Called by sweep.tasks."""\nMESSAGE = "see sweep.engine"\n',
        "analysis/__init__.py": "",
        "analysis/figures.py": "import importlib\n\ndef runner():\n"
                               "    return importlib.import_module('sweep.engine')\n",
        "sweep/__init__.py": "",
        "sweep/engine.py": "from sweep import tasks\n",
        "sweep/tasks.py": "from importlib import import_module\n\ndef engine():\n"
                          "    return import_module('sweep.engine')\n",
        "sweep/problems/__init__.py": "PROBLEMS = {'mine': 'sweep.problems.mine'}\n",
        "sweep/problems/mine/__init__.py": "from sweep.problems.contract import Problem\n"
                                           "PROBLEM = Problem(name='mine', run='sweep.problems.mine.run:run', "
                                           "report='sweep.problems.mine.report')\n",
        "sweep/problems/contract.py": "",
        "sweep/problems/mine/run.py": "import kernels.step\n",
        "sweep/problems/mine/report.py": "from sweep import problems\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    graph = import_graph(tmp_path)
    assert reaching_up(graph) == {"analysis.figures": ["sweep", "sweep.engine"]}
    assert cycles(graph) == [["sweep.engine", "sweep.tasks"]]
    assert {"sweep.problems.mine.run", "sweep.problems.mine.report"} <= graph["sweep.problems.mine"]
    assert "sweep.problems.mine" in graph["sweep.problems"]
    assert graph["kernels.step"] == set()
    written = import_graph(tmp_path, top_level_only=True)
    assert reaching_up(written) == {} and cycles(written) == []  # what following only `import` misses


@pytest.mark.slow
def test_every_module_imports_alone():
    def import_alone(name: str) -> tuple[str, str]:
        result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
        return name, result.stderr.strip().splitlines()[-1] if result.returncode else ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        runnable = [name for name in modules() if not name.endswith("__main__")]  # that one runs the CLI
        failures = {name: error for name, error in pool.map(import_alone, runnable) if error}
    assert failures == {}


def test_status_and_show_import_neither_numba_nor_scipy_optimize(tmp_path):
    from sweep.cli import main

    store = tmp_path / "s.zarr"
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: light\nparams: {n: 10, n_test: 5, d: 2, max_epochs: 3}\ngrid: {seed: [0, 1]}\n")
    assert main(["run", str(spec), "--store", str(store), "--serial"]) == 0
    probe = ("import sys; from sweep.cli import main; main(['status', sys.argv[1]]); main(['show', sys.argv[1]]); "
             "heavy = [m for m in ('numba', 'scipy.optimize') if m in sys.modules]; print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", probe, str(store)], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out and "remaining" in out and "<xarray.Dataset>" in out
