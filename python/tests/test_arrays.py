"""Arrays of other libraries in, the same library's arrays out: array_api_strict (the array API
standard's reference library, a stand-in for PyTorch, CuPy and JAX) against scipy on numpy."""

import array_api_strict as xp
import numpy as np
import pytest
from scipy import ndimage

import blur3d

from conftest import check, random_array


CASES = [
    ("gaussian_filter", dict(sigma=(1.0, 2.0, 0.5), mode="wrap")),
    ("gaussian_filter", dict(sigma=1.5, order=(1, 0), axes=(1, 2))),
    ("gaussian_filter1d", dict(sigma=2.0, axis=1, mode="nearest")),
    ("gaussian_laplace", dict(sigma=1.5)),
    ("gaussian_gradient_magnitude", dict(sigma=1.0, mode="constant", cval=2.0)),
]


# Every case in floats, and in int16 but the gradient magnitude (scipy squares int16 derivatives
# in int16, where they overflow: `test_filters` checks that case on numpy arrays).
@pytest.mark.parametrize(
    "func, kw, dtype",
    [(f, kw, d) for f, kw in CASES for d in ["float32", "float64", "int16"]
     if not (d == "int16" and f == "gaussian_gradient_magnitude")],
)
def test_array_api_arrays_in_and_out(rng, func, kw, dtype):
    a = random_array(rng, (9, 10, 11), dtype)
    x = xp.asarray(a)
    ours = getattr(blur3d, func)(x, **kw)
    assert type(ours) is type(x)
    assert ours.device == x.device
    theirs = getattr(ndimage, func)(a, **kw)
    host = np.from_dlpack(ours)
    assert host.dtype == theirs.dtype
    check(host, theirs, a)


def test_array_api_outputs(rng):
    a = rng.random((6, 7, 8)).astype(np.float32)
    x = xp.asarray(a)
    # A dtype of the array's library, as scipy takes numpy's.
    ours = blur3d.gaussian_filter(x, 1.5, output=xp.float64)
    assert ours.dtype == xp.float64
    check(np.from_dlpack(ours), ndimage.gaussian_filter(a, 1.5, output=np.float64), a)
    ours = blur3d.gaussian_filter1d(x * 100, 1.0, axis=0, output=xp.int16)
    assert ours.dtype == xp.int16
    # An array of the library, written in place and returned.
    out = xp.zeros((6, 7, 8), dtype=xp.float32)
    assert blur3d.gaussian_laplace(x, 1.0, out) is out
    check(np.from_dlpack(out), ndimage.gaussian_laplace(a, 1.0), a)
    # numpy in, numpy out, as before.
    assert isinstance(blur3d.gaussian_filter(a, 1.0), np.ndarray)


def test_array_api_input_is_read_in_place(rng):
    # Zero-copy on the host: the filter reads the array's own memory (a change made after the
    # array was made shows in the result).
    a = rng.random((5, 6, 7)).astype(np.float32)
    x = xp.asarray(a)
    np.from_dlpack(x)[...] = 1.0
    ours = np.from_dlpack(blur3d.gaussian_filter(x, 1.0))
    np.testing.assert_allclose(ours, np.ones_like(a), rtol=1e-6)
