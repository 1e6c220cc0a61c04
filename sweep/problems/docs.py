"""Markdown tables of the problems, their parameters and their stored variables.

Built from the declarations themselves (``Problem``, its params class and its layout),
so the README's tables are generated, not written: ``sweep problems [NAME]`` prints
them, and tests/test_problems.py checks that the README holds them verbatim.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from sweep.problems.base import ENGINE_VARIABLES, Problem


def _all_options(problem: Problem):
    """``values(name)`` for documentation: each default, and both values of a flag, so
    that every optional variable and dim of the layout shows."""
    defaults = problem.params.defaults()
    return lambda name: (False, True) if isinstance(defaults[name], bool) else (defaults[name],)


def problems_table(problems: list[Problem]) -> str:
    rows = [f"| `{p.name}` | {p.summary} | {p.theory} | {', '.join(f'`{s}`' for s in p.presets) or '-'} |"
            for p in problems]
    return "\n".join(["| problem | what it is | theory | paper presets |", "|---|---|---|---|", *rows])


def parameters_table(problem: Problem) -> str:
    docs = problem.params.FIELD_DOCS
    rows = [f"| `{f.name}` | {problem.params.kind(f.name)} | {_format(f.default)} | {docs.get(f.name, '')} |"
            for f in fields(problem.params)]
    return "\n".join(["| parameter | type | default | meaning |", "|---|---|---|---|", *rows])


def variables_table(problem: Problem) -> str:
    layout = problem.layout(_all_options(problem))
    dims = {dim.name: dim for dim in layout.dims}
    rows = []
    for variable in layout.variables + ENGINE_VARIABLES:
        where = " + ".join(["grid", *variable.dims])
        rows.append(f"| `{variable.name}` | {where} | {variable.dtype} | {_format(variable.fill)} | "
                    f"{variable.units or ''} | {variable.long_name} |")
    dim_rows = [f"| `{dim.name}` | {dim.attrs.get('long_name', 'no coordinate')} |" for dim in dims.values()]
    return "\n".join(["| dim (besides the grid's) | coordinate |", "|---|---|", *dim_rows, "",
                      "| variable | dims | dtype | fill | units | meaning |", "|---|---|---|---|---|---|", *rows])


def _format(value: Any) -> str:
    text = repr(value)
    return "NaN" if text == "nan" else f"`{text}`"
