"""Markdown tables of the problems, their parameters and their stored variables.

Built from the declarations themselves (``Problem``, its params class and its layout),
so the README's tables are generated, not written: ``sweep problems [NAME]`` prints
them, ``sweep problems --update-readme README.md`` rewrites every block of the README
between ``<!-- sweep problems [NAME] -->`` and ``<!-- end -->`` (:func:`rewrite_blocks`,
also used by ``sweep paper --update-readme``), and tests/test_problems.py checks that the
README is up to date.
"""
from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from sweep.problems.contract import Problem
from sweep.problems.schema import ENGINE_VARIABLES



def block_pattern(command: str) -> re.Pattern:
    """A generated block of a text: the line ``<!-- sweep COMMAND [NAME] -->``, the body,
    ``<!-- end -->`` (groups: the opening line, ``name``, the body, the end)."""
    return re.compile(rf"(<!-- sweep {command} ?(?P<name>[\w]*) -->\n)(.*?)(<!-- end -->)", re.DOTALL)


def rewrite_blocks(text: str, command: str, body) -> str:
    """``text`` with the body of every ``sweep COMMAND`` block replaced by ``body(name)``
    (a block whose ``body`` is None is kept as it is)."""
    def block(match: re.Match) -> str:
        new = body(match.group("name"))
        return match.group(0) if new is None else f"{match.group(1)}{new}\n{match.group(4)}"

    return block_pattern(command).sub(block, text)


def _all_options(problem: Problem):
    """``values(name)`` for documentation: each default, and both values of a flag, so
    that every optional variable and dim of the layout shows."""
    defaults = problem.params.defaults()
    return lambda name: (False, True) if isinstance(defaults[name], bool) else (defaults[name],)


def update_readme(text: str) -> str:
    """``text`` with every generated block rewritten from the current declarations."""
    from sweep.problems import get_problem, problem_names

    def body(name: str) -> str:
        if not name:
            return problems_table([get_problem(each) for each in problem_names()])
        problem = get_problem(name)
        return (f"Parameters:\n\n{parameters_table(problem)}\n\nStored variables (every grid point; "
                f"dims after the grid's):\n\n{variables_table(problem)}")

    return rewrite_blocks(text, "problems", body)


def problems_table(problems: list[Problem]) -> str:
    rows = [f"| `{p.name}` | {_cell(p.summary)} | {_cell(p.theory)} | "
            f"{', '.join(f'`{s}`' for s in p.presets) or '-'} |" for p in problems]
    return "\n".join(["| problem | what it is | theory | paper presets |", "|---|---|---|---|", *rows])


def parameters_table(problem: Problem) -> str:
    docs = problem.params.docs()
    rows = [f"| `{f.name}` | {problem.params.kind(f.name)} | {_format(f.default)} | {_cell(docs[f.name])} |"
            for f in fields(problem.params)]
    return "\n".join(["| parameter | type | default | meaning |", "|---|---|---|---|", *rows])


def variables_table(problem: Problem) -> str:
    layout = problem.layout(_all_options(problem))
    dims = {dim.name: dim for dim in layout.dims}
    rows = []
    for variable in layout.variables + ENGINE_VARIABLES:
        where = " + ".join(["grid", *variable.dims])
        rows.append(f"| `{variable.name}` | {where} | {variable.dtype} | {_format(variable.fill)} | "
                    f"{variable.units or ''} | {_cell(variable.long_name)} |")
    dim_rows = [f"| `{dim.name}` | {_cell(dim.attrs.get('long_name', 'no coordinate'))} |" for dim in dims.values()]
    return "\n".join(["| dim (besides the grid's) | coordinate |", "|---|---|", *dim_rows, "",
                      "| variable | dims | dtype | fill | units | meaning |", "|---|---|---|---|---|---|", *rows])


def _cell(text: str) -> str:
    """Text for a markdown table cell: a literal | is escaped."""
    return text.replace("|", "\\|")


def _format(value: Any) -> str:
    text = repr(value)
    return "NaN" if text == "nan" else f"`{text}`"
