"""PyTorch tensors in, PyTorch tensors out, equal to scipy's results on the same tensors (scipy's
array-API mode, `SCIPY_ARRAY_API=1`, which returns tensors too). CPU tensors: a CUDA tensor goes
through host memory the same way (`python/README.md`)."""

import numpy as np
import pytest
import scipy
import torch
from scipy import ndimage

import blur3d

CASES = [
    ("gaussian_filter", dict(sigma=(1.0, 2.0, 0.5), mode="wrap")),
    ("gaussian_filter", dict(sigma=1.5, order=(1, 0), axes=(1, 2))),
    ("gaussian_filter1d", dict(sigma=2.0, axis=1, mode="nearest")),
    ("gaussian_laplace", dict(sigma=1.5)),
    ("gaussian_gradient_magnitude", dict(sigma=1.0, mode="constant", cval=2.0)),
]


def test_scipy_is_in_array_api_mode():
    # Otherwise scipy would convert tensors to numpy arrays, and the comparison below would
    # compare types it did not make.
    assert scipy._lib._array_api.SCIPY_ARRAY_API
    assert isinstance(ndimage.gaussian_filter(torch.zeros(3, 4), 1.0), torch.Tensor)


@pytest.mark.parametrize("func, kw", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensors_in_tensors_out_equal_to_scipy(func, kw, dtype):
    g = torch.Generator().manual_seed(7)
    t = (torch.rand((9, 10, 11), generator=g, dtype=torch.float64) * 200 - 100).to(dtype)
    ours = getattr(blur3d, func)(t, **kw)
    theirs = getattr(ndimage, func)(t, **kw)
    assert isinstance(ours, torch.Tensor) and isinstance(theirs, torch.Tensor)
    assert ours.dtype == theirs.dtype == dtype
    assert ours.device == t.device
    scale = float(t.abs().max())
    # float64 is computed in f64 (1e-12), float32 in f32 (the contract's 1e-5).
    tol = (1e-12 if dtype == torch.float64 else 1e-5) * scale
    err = float((ours.double() - theirs.double()).abs().max())
    assert err <= tol, (func, kw, dtype, err)


def test_integer_tensors_and_outputs():
    t = torch.randint(0, 4000, (6, 7, 8), dtype=torch.int32)
    ours = blur3d.gaussian_filter(t, 1.3)
    theirs = ndimage.gaussian_filter(t, 1.3)
    assert ours.dtype == torch.int32
    # 32-bit integers are computed in f64 and truncated as scipy does: equal.
    assert torch.equal(ours, theirs)
    out = blur3d.gaussian_filter(t, 1.3, output=torch.float64)
    assert out.dtype == torch.float64
    # (scipy takes no torch dtype as output=; its float64 output of int32 is the filter of the
    # values as float64.)
    want = ndimage.gaussian_filter(t.double(), 1.3)
    assert float((out - want).abs().max()) <= 1e-12 * 4000


def test_input_tensor_is_read_where_it_lies_and_left_alone():
    t = torch.rand((5, 6, 7), dtype=torch.float32)
    before = t.clone()
    out = blur3d.gaussian_filter(t, 1.0)
    assert torch.equal(t, before)
    # A tensor output, in place.
    dst = torch.empty_like(t)
    assert blur3d.gaussian_filter(t, 1.0, output=dst) is dst
    assert torch.equal(dst, out)
    # numpy in, numpy out still.
    assert isinstance(blur3d.gaussian_filter(t.numpy(), 1.0), np.ndarray)
