"""Shared helpers: scipy is the reference; the GPU computes float64, complex128 and 32- and 64-bit
integer outputs in f64 (natively, or in double-single arithmetic where the adapter has no f64),
the others in f32."""

import os

import numpy as np
import pytest

import blur3d

# Float results: max abs error at most this times the input's max abs value (the project's
# accuracy contract for f32 on the GPU against f64 references), and for results computed in f64.
FLOAT_TOL = 1e-5
DOUBLE_TOL = 1e-12


def pytest_collection_modifyitems(config, items):
    """Without a GPU adapter the tests cannot run: in CI (`CI` set) that fails them all, as the
    Rust suite does; elsewhere they say that they skipped, and why."""
    try:
        blur3d.default()
    except blur3d.GpuError as e:
        if os.environ.get("CI"):
            raise pytest.UsageError(f"CI has no GPU adapter: {e}") from e
        skip = pytest.mark.skip(reason=f"SKIPPED: no GPU adapter ({e})")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(20261201)


def assert_float_close(actual, expected, scale, tol=FLOAT_TOL):
    """`actual` equals scipy's `expected` within `tol` times `scale` (the input's max abs)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    err = np.abs(actual.astype(np.complex128) - expected.astype(np.complex128))
    worst = np.unravel_index(np.argmax(err), err.shape) if err.size else None
    limit = tol * max(float(scale), 1.0)
    assert err.size == 0 or err.max() <= limit, (
        f"max error {err.max()} > {limit} at {worst}: got {actual[worst]}, scipy {expected[worst]}"
    )


def assert_integers_match(actual, expected, rare=1e-3):
    """Integer results equal scipy's, except where scipy's f64 value sits within f32 rounding of
    an integer: there truncation toward zero (scipy's rule, after every axis) may land one
    apart. Such voxels must be rare (at most `rare` of them) and off by exactly one."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    assert diff.size == 0 or diff.max() <= 1, f"off by {diff.max()} at {np.unravel_index(np.argmax(diff), diff.shape)}"
    off = np.count_nonzero(diff)
    assert off <= rare * diff.size, f"{off} of {diff.size} voxels off by one"


def check(ours, theirs, input):
    """Our result against scipy's: integers as `assert_integers_match` (32- and 64-bit ones,
    computed in f64, exactly), floats within the contract relative to the input's largest value
    (1e-12 for float64 and complex128, computed in f64)."""
    if theirs.dtype.kind in "iu":
        if theirs.dtype.itemsize >= 4:
            np.testing.assert_array_equal(ours, theirs, strict=True)
        else:
            assert_integers_match(ours, theirs)
    else:
        double = theirs.dtype in (np.float64, np.complex128)
        scale = np.abs(input).max() if input.size else 1.0
        assert_float_close(ours, theirs, scale, DOUBLE_TOL if double else FLOAT_TOL)


def random_array(rng, shape, dtype):
    """Random values: floats in [-100, 100); 8-bit integers over their whole range; wider
    integers in [-2000, 2000] (or [0, 4000]), where f32's rounding (about 1e-7 of the value) is
    far from 1, so that truncation toward zero rarely lands apart from scipy's f64."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return ((rng.random(shape) * 2 - 1) * 100).astype(dtype)
    if dtype.kind == "c":
        return (rng.random(shape) + 1j * rng.random(shape)).astype(dtype)
    info = np.iinfo(dtype)
    if dtype.itemsize == 1:
        lo, hi = info.min, info.max
    else:
        lo, hi = (0, 4000) if info.min == 0 else (-2000, 2000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
