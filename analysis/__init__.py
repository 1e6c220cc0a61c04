"""Analysis of sweep results: statistics, figures and reports (THEORY.md §2-5).

Only the light entry point is imported here; import the submodules for the rest.
"""
from analysis.stats import open_results

__all__ = ["open_results"]
