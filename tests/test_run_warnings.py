"""collected_warnings: a run's warnings are collected by kind, not shown; the rest as before."""
import threading
import warnings

import numpy as np
import pytest

from sweep.run_warnings import collected_warnings


def warn_here(message="Mean of empty slice"):
    warnings.warn(message, RuntimeWarning)  # one location: shown once by Python's default filter


def test_a_run_collects_its_warnings_and_shows_none():
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        with collected_warnings() as kinds:
            warn_here()
            np.ones(1) / 0.0
            np.exp(np.float64(1000.0))
        assert shown == []
        assert kinds == {"RuntimeWarning: Mean of empty slice", "divide by zero", "overflow"}
        warn_here("after the run")
        assert [str(w.message) for w in shown] == ["after the run"]


def test_each_run_counts_a_warning_python_already_showed_at_that_location():
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        warn_here()
        collected = []
        for _ in range(3):
            with collected_warnings() as kinds:
                warn_here()
            collected.append(kinds)
        assert len(shown) == 1
        assert collected == [{"RuntimeWarning: Mean of empty slice"}] * 3


def test_other_threads_warn_as_before_and_filters_still_apply():
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        with collected_warnings() as kinds:
            thread = threading.Thread(target=warn_here, args=("from another thread",))
            thread.start()
            thread.join()
            warnings.filterwarnings("ignore", message="ignored")
            warn_here("ignored")
            warnings.filterwarnings("error", message="fatal")
            with pytest.raises(RuntimeWarning, match="fatal"):
                warn_here("fatal")
        assert [str(w.message) for w in shown] == ["from another thread"]
        assert kinds == set()
