"""pytest plugin: runs scipy's own ndimage tests with scipy's Gaussian filters replaced by
blur3d's (before scipy's test module is collected), and counts the tests that called them.

Used by ``test_scipy_suite.py``: ``pytest -p blur3d_as_scipy .../scipy/ndimage/tests/test_filters.py``
with this file's folder on ``PYTHONPATH``; ``BLUR3D_SCIPY_REPORT`` names a JSON file that gets
the tally.
"""

import json
import os

import blur3d
import pytest
from scipy import ndimage
from scipy._lib._array_api import xp_capabilities_table

NAMES = ["gaussian_filter", "gaussian_filter1d", "gaussian_laplace", "gaussian_gradient_magnitude"]
_calls = [0]
_touched = set()
_outcomes = {}


def _counted(f):
    def run(*args, **kwargs):
        _calls[0] += 1
        return f(*args, **kwargs)

    run.__name__ = f.__name__
    run.__doc__ = f.__doc__
    return run


for _name in NAMES:
    _ours = _counted(getattr(blur3d, _name))
    _theirs = getattr(ndimage, _name)
    # scipy's tests look up each function's array-API capabilities by the function itself.
    if _theirs in xp_capabilities_table:
        xp_capabilities_table[_ours] = xp_capabilities_table[_theirs]
    setattr(ndimage, _name, _ours)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    before = _calls[0]
    try:
        return (yield)
    finally:
        if _calls[0] > before:
            _touched.add(item.nodeid)


def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid in _touched:
        _outcomes[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter):
    failed = sorted(n for n, o in _outcomes.items() if o != "passed")
    tally = {"tests": len(_outcomes), "failed": failed, "calls": _calls[0]}
    terminalreporter.write_line(
        f"blur3d: {tally['tests']} of scipy's tests called its Gaussian filters "
        f"({tally['calls']} calls), {len(failed)} failed"
    )
    report = os.environ.get("BLUR3D_SCIPY_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(tally, f)
