"""scipy's own ndimage filter tests (they ship with scipy) run against blur3d: scipy's Gaussian
filters replaced by blur3d's before the tests are collected (`scipy_suite/blur3d_as_scipy.py`),
every test of `scipy/ndimage/tests/test_filters.py` run, and every one that called a blur3d
filter must pass, on whatever adapter and pass family the environment picks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import scipy.ndimage.tests


def test_scipys_own_filter_tests_pass_with_blur3d(tmp_path):
    tests = Path(scipy.ndimage.tests.__file__).parent / "test_filters.py"
    report = tmp_path / "report.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent / "scipy_suite"), env.get("PYTHONPATH", "")]
    )
    env["BLUR3D_SCIPY_REPORT"] = str(report)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "blur3d_as_scipy",
         "-W", "ignore::DeprecationWarning", str(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    tally = json.loads(report.read_text())
    assert tally["failed"] == [], run.stdout[-4000:]
    # scipy 1.17's file has about a hundred tests of the Gaussian filters; each must have called
    # blur3d (a patch that missed would leave scipy's own functions under test).
    assert tally["tests"] >= 90, tally
    assert tally["calls"] >= tally["tests"], tally
    assert run.returncode == 0, run.stdout[-4000:]
