"""Every figure of every problem, rendered on small stores, is laid out for print: no text
outside the canvas, no tick labels of an axis over each other, no title over other text
(matplotlib's Agg renderer gives every text's bounding box)."""
from __future__ import annotations

import itertools

import matplotlib
import pytest
import xarray as xr
import zarr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from analysis.plotting import STYLE
from sweep.engine import run_sweep
from sweep.problems import get_problem
from sweep.spec import parse_spec
from tests.committed_stores import DATA

TOLERANCE = 1.0  # pixels: boxes that share an edge do not overlap
SMALL_SWEEPS = {
    "relu_pgd": {"params": {"d": 120, "iterations": 25, "n_test": 50},
                 "grid": {"constraint": ["l0", "l1"], "s": [4, 8], "n": [30, 60, 120, 500],
                          "relu_slope_at_zero": [0.0, 0.5],
                          "seed": list(range(6))}},
    "relu_student": {"params": {"d": 2, "m": 2, "batch": 200, "steps": 60, "lr": 0.5},
                     "grid": {"learner": ["gd", "conic"], "lam": [0.0, 0.01], "M": [2, 6], "data_seed": [0, 1],
                              "seed": [0]}},
    "biased_relu": {"params": {"d": 4, "m": 2, "bias_values": [0.0, 0.9], "steps": 100, "refine_steps": 50,
                               "lr": 0.05, "n_test": 500},
                    "grid": {"seed": [0, 1], "N": [100_000, 300_000], "learner": ["moments", "sgd", "hybrid"]}},
}
# Stores of a problem beside its SMALL_SWEEPS one: name -> (problem, sweep).
MORE_SWEEPS = {
    "biased_relu_bias": ("biased_relu", {"params": {"d": 6, "m": 4, "N": 200_000, "n_test": 500, "steps": 100,
                                                    "refine_steps": 50, "lr": 0.05},
                                         "grid": {"seed": list(range(6)), "beta": [0.5, 1.0],
                                                  "learner": ["moments", "sgd"]}}),
    "biased_relu_conditioning": ("biased_relu", {"params": {"d": 6, "N": 50_000, "beta": 1.0, "learner": "moments",
                                                            "n_test": 500},
                                                 "grid": {"seed": [0, 1], "cond": [1.0, 10.0], "m": [2, 4]}}),
}
COMMITTED = ("fig1_boundaries", "fig5_relu_vs_leaky", "fig7_clustering", "fig9_outlier")
# Theorem 4.1's figures of separable (epochs against the bound) are another issue's (23) work.
NOT_HERE = {"epochs_vs_parameters", "ratio_heatmap"}


def _drawn_tick_labels(axis):
    """The tick labels an axis draws (those of ticks inside its view), non-empty."""
    return [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)
            if label.get_visible() and label.get_text().strip()]


def _boxes(fig):
    """(text, bounding box) of every text the drawn figure shows: tick labels of the ticks
    drawn, and every other visible, non-empty text."""
    renderer = fig.canvas.get_renderer()
    ticks = [label for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for label in _drawn_tick_labels(axis)]
    tick_texts = {id(text) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                  for tick in axis.get_major_ticks() + axis.get_minor_ticks() for text in (tick.label1, tick.label2)}
    others = [text for text in fig.findobj(Text) if id(text) not in tick_texts and text.get_visible()
              and text.get_text().strip()]
    return [(text, text.get_window_extent(renderer)) for text in ticks + others]


def _overlap(a, b) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE) and (min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE)


def layout_faults(fig) -> list[str]:
    """What a reader would see wrong: text cut at the canvas edge, tick labels of one axis
    over each other, a title over another text."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    canvas = fig.bbox
    faults = []
    for text, box in _boxes(fig):
        if box.x0 < -TOLERANCE or box.y0 < -TOLERANCE or box.x1 > canvas.x1 + TOLERANCE or box.y1 > canvas.y1 + TOLERANCE:
            faults.append(f"outside the canvas: {text.get_text()!r}")
    renderer = fig.canvas.get_renderer()
    titles = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [(label, label.get_window_extent(renderer)) for label in _drawn_tick_labels(axis)]
            for (a, box_a), (b, box_b) in itertools.combinations(labels, 2):
                if _overlap(box_a, box_b):
                    faults.append(f"tick labels over each other: {a.get_text()!r} and {b.get_text()!r}")
        titles += [title for title in (ax.title, ax._left_title, ax._right_title) if title.get_text().strip()]
    if fig._suptitle is not None:
        titles.append(fig._suptitle)
    others = _boxes(fig)
    for title in titles:
        box = title.get_window_extent(renderer)
        for text, other in others:
            if text is not title and _overlap(box, other):
                faults.append(f"title {title.get_text()[:40]!r} over {text.get_text()[:40]!r}")
    return faults


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Small stores of every problem: swept here (relu_pgd, relu_student, biased_relu) or committed (separable)."""
    folder = tmp_path_factory.mktemp("layout")
    out = {}
    for name, (problem, sweep) in {**{problem: (problem, sweep) for problem, sweep in SMALL_SWEEPS.items()},
                                   **MORE_SWEEPS}.items():
        path = folder / f"{name}.zarr"
        run_sweep(parse_spec({"name": f"{name}_layout", "problem": problem, **sweep}), path)
        out[name] = xr.open_zarr(path).load()
    for case in COMMITTED:
        with zarr.storage.ZipStore(DATA / f"{case}.zarr.zip", mode="r") as store:
            out[case] = xr.open_zarr(store).load()
    return out


CASES = ([(problem, problem) for problem in SMALL_SWEEPS] + [(name, problem) for name, (problem, _) in MORE_SWEEPS.items()]
         + [(case, "separable") for case in COMMITTED])


@pytest.mark.parametrize("store, problem", CASES)
def test_every_figure_is_laid_out_for_print(stores, store, problem):
    from importlib import import_module

    figures = import_module(get_problem(problem).report).FIGURES
    drawn = 0
    faults = {}
    for figure in (figure for figure in figures if figure.__name__ not in NOT_HERE):
        with matplotlib.rc_context(STYLE):
            fig = figure.__wrapped__(stores[store])
            if fig is None:
                continue
            drawn += 1
            found = layout_faults(fig)
        if found:
            faults[figure.__name__] = found[:5]
    assert drawn >= 1
    assert not faults, faults


def test_the_layout_check_sees_a_cut_title_and_crowded_ticks():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    ax = fig.subplots()
    ax.set_title("a title far too long to fit inside a figure two inches wide, so it is cut")
    ax.set_xticks([0, 0.01], ["a long tick label", "another long one"])
    faults = layout_faults(fig)
    assert any(fault.startswith("outside the canvas") for fault in faults)
    assert any(fault.startswith("tick labels over each other") for fault in faults)
