"""Imports run downwards (README, Layout): no import cycle, analysis never reaches up into
the engine, every module imports on its own, and the light commands stay light."""
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


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path], top_level_only: bool) -> set[str]:
    """The project modules ``name`` imports (module level only, or also inside functions);
    importing a module imports its parent packages too."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports for type checkers only are never executed
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    targets = set()
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


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
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


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module level", "with imports inside functions"])
def test_no_import_cycle(top_level_only):
    known = modules()
    graph = {name: imports_of(name, path, known, top_level_only) for name, path in known.items()}
    # A package's __init__ may re-export its submodules: that edge is not a cycle.
    for name in graph:
        graph[name] = {other for other in graph[name] if not other.startswith(name + ".")}
    assert cycles(graph) == []


def test_analysis_and_kernels_never_reach_up():
    known = modules()
    for name, path in known.items():
        reached = imports_of(name, path, known, top_level_only=False)
        if name.startswith("kernels"):
            assert not any(other.split(".")[0] in ("sweep", "analysis") for other in reached), name
        if name.startswith("analysis"):
            assert all(other in ("sweep", "sweep.problems") for other in reached if other.startswith("sweep")), name


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
