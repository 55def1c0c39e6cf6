"""blur3d's functions against scipy.ndimage's on random arrays."""

import threading
import time

import numpy as np
import pytest
from conftest import assert_float_close, assert_integers_match, check, random_array
from scipy import ndimage

import blur3d

MODES = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-mirror", "grid-wrap", "grid-constant"]
DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_mode_per_axis_sigma(rng, mode, dtype):
    a = random_array(rng, (13, 17, 19), dtype)
    kw = dict(sigma=(1.0, 2.5, 0.7), mode=mode, cval=3.5)
    check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


def test_kernels_longer_than_the_axes(rng):
    # Repeated reflections and periods, as scipy extends short axes.
    a = random_array(rng, (3, 5, 2), "float32")
    for mode in ["reflect", "mirror", "nearest", "wrap", "constant"]:
        kw = dict(sigma=(4.0, 3.0, 6.0), mode=mode, cval=-1.0)
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


def test_per_axis_modes_radius_and_truncate(rng):
    a = random_array(rng, (11, 12, 13), "float32")
    for kw in [
        dict(sigma=2.0, mode=("wrap", "constant", "mirror"), cval=7.0),
        dict(sigma=(1.5, 2.0, 3.0), radius=(1, 0, 5)),
        dict(sigma=2.0, radius=3),
        dict(sigma=(1.0, 2.0, 3.0), truncate=1.5),
        dict(sigma=(1.0, 2.0, 3.0), truncate=0.1),
        dict(sigma=(0.0, 2.0, -1.0)),  # sigma <= 0 leaves an axis as it is, as in scipy
    ]:
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


@pytest.mark.parametrize("shape", [(1,), (40,), (9, 31), (1, 1), (7, 1, 9)])
def test_one_two_and_three_dimensions(rng, shape):
    a = random_array(rng, shape, "float32")
    for mode in ["reflect", "wrap", "constant"]:
        kw = dict(sigma=1.7, mode=mode, cval=0.5)
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


def test_zero_dimensions_and_empty_arrays(rng):
    a = np.array(2.5)
    assert blur3d.gaussian_filter(a, 1.0) == ndimage.gaussian_filter(a, 1.0)
    e = np.zeros((0, 4, 5), np.float32)
    assert blur3d.gaussian_filter(e, 1.0).shape == (0, 4, 5)


def test_more_dimensions_with_axes(rng):
    a = random_array(rng, (3, 6, 7, 8), "float32")
    for kw in [
        dict(sigma=1.5, axes=(1, 2, 3)),
        dict(sigma=(1.0, 2.0), axes=(3, 1), mode=("wrap", "nearest")),
        dict(sigma=(0.0, 1.0, 2.0, 1.5)),
        dict(sigma=(1.0, 1.0, 2.0, 1.5)),  # four filtered axes: three on the GPU, then one
        dict(sigma=1.2, axes=-1),
    ]:
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)
    b = random_array(rng, (2, 3, 4, 5, 6), "float64")
    kw = dict(sigma=(1.0, 0.0, 2.0, 0.0, 1.0), mode="mirror")
    check(blur3d.gaussian_filter(b, **kw), ndimage.gaussian_filter(b, **kw), b)


def library_calls():
    """How many times the default device has called the library's filter so far."""
    return blur3d.default()._device._library_calls


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant", "grid-constant"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int16", "int64"])
def test_series_is_one_batch(rng, mode, dtype):
    # A (t, z, y, x) series: the volumes go to the library together, in one call.
    a = random_array(rng, (5, 9, 10, 11), dtype)
    for kw in [dict(sigma=(1.0, 2.0, 1.5), axes=(1, 2, 3)), dict(sigma=(0.0, 1.0, 2.0, 1.5))]:
        kw.update(mode=mode, cval=2.5)
        before = library_calls()
        ours = blur3d.gaussian_filter(a, **kw)
        assert library_calls() == before + 1
        check(ours, ndimage.gaussian_filter(a, **kw), a)


def test_batches_of_any_layout(rng):
    def one_call(func, a, **kw):
        before = library_calls()
        ours = getattr(blur3d, func)(a, **kw)
        assert library_calls() == before + 1, kw
        check(ours, getattr(ndimage, func)(a, **{k: v for k, v in kw.items() if k != "output"}), a)

    # Two batch axes (5-D), in either place.
    b = random_array(rng, (2, 3, 8, 9, 10), "float32")
    one_call("gaussian_filter", b, sigma=1.5, axes=(2, 3, 4), mode="wrap")
    one_call("gaussian_filter", b, sigma=(0.0, 0.0, 1.0, 2.0, 1.5), mode="mirror")
    one_call("gaussian_filter", b, sigma=(1.5, 1.0, 2.0), axes=(0, 1, 4), mode="nearest")
    # A batch axis in the middle, and batches of fewer than three filtered axes.
    a = random_array(rng, (6, 5, 9, 10), "float64")
    one_call("gaussian_filter", a, sigma=(1.0, 2.0, 1.5), axes=(0, 2, 3), mode="constant", cval=-1.0)
    one_call("gaussian_filter", a, sigma=(1.0, 2.0), axes=(1, 3))
    one_call("gaussian_filter1d", a, sigma=2.0, axis=2, mode="wrap")
    one_call("gaussian_filter", random_array(rng, (7, 20, 30), "uint16"), sigma=(0.0, 1.5, 2.0))
    # Laplace and gradient magnitude of a series.
    one_call("gaussian_laplace", a, sigma=1.5, axes=(1, 2, 3))
    one_call("gaussian_gradient_magnitude", a, sigma=(0.0, 1.5, 1.0, 2.0), axes=(1, 2, 3))
    # Fortran order and other strides: read in place, written into the output's own memory.
    f = np.asfortranarray(a)
    one_call("gaussian_filter", f, sigma=1.5, axes=(1, 2, 3), mode="reflect")
    one_call("gaussian_filter", f, sigma=1.5, axes=(0, 1, 3), output=np.zeros(f.shape, order="F"))
    one_call("gaussian_filter", a[::-2, :, 1:, ::3], sigma=1.0, axes=(1, 2, 3))
    fb = np.asfortranarray(b)
    one_call("gaussian_filter", fb, sigma=1.5, axes=(2, 3, 4), output=np.zeros(fb.shape, fb.dtype, order="F"))
    out = np.zeros((6, 5, 9, 20))
    blur3d.gaussian_filter(a, 1.5, axes=(1, 2, 3), output=out[..., ::2])
    check(out[..., ::2], ndimage.gaussian_filter(a, 1.5, axes=(1, 2, 3)), a)
    assert np.all(out[..., 1::2] == 0)
    # Batch axes whose strides do not merge into one (a Fortran-order input into scipy's C-order
    # output; batch axes apart): still scipy's result, in fewer calls than volumes.
    for x, kw, volumes in [
        (fb, dict(sigma=1.5, axes=(2, 3, 4)), 6),
        (b.transpose(4, 3, 2, 1, 0), dict(sigma=1.2, axes=(0, 1, 2)), 6),
        (b, dict(sigma=1.0, axes=(1, 3, 4)), 16),
    ]:
        before = library_calls()
        ours = blur3d.gaussian_filter(x, **kw)
        assert library_calls() - before < volumes
        check(ours, ndimage.gaussian_filter(x, **kw), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype(rng, dtype):
    a = random_array(rng, (10, 11, 12), dtype)
    for mode in ["reflect", "wrap"]:
        kw = dict(sigma=(1.0, 1.5, 2.0), mode=mode)
        ours = blur3d.gaussian_filter(a, **kw)
        theirs = ndimage.gaussian_filter(a, **kw)
        assert ours.dtype == a.dtype
        check(ours, theirs, a)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int64"])
def test_round_once(rng, dtype):
    a = random_array(rng, (10, 11, 12), dtype)
    ours = blur3d.gaussian_filter(a, 1.5, round_once=True)
    exact = ndimage.gaussian_filter(a.astype(np.float64), 1.5)
    want = np.round(exact)
    diff = np.abs(ours.astype(np.float64) - want)
    # Only where the exact value sits at a half, within f32 rounding, may the two differ.
    assert diff.max() <= 1
    assert np.all(np.abs(np.abs(exact - np.trunc(exact)) - 0.5)[diff > 0] < 1e-3)
    # Truncating after every axis, as scipy does, gives a different answer on random data.
    assert np.any(ours != ndimage.gaussian_filter(a, 1.5))


def test_integer_input_float_output_and_back(rng):
    a = random_array(rng, (9, 10, 11), "uint16")
    for output in [np.float32, "float64", np.dtype("int32"), np.int16]:
        ours = blur3d.gaussian_filter(a, 1.3, output=output)
        theirs = ndimage.gaussian_filter(a, 1.3, output=output)
        assert ours.dtype == np.dtype(output)
        check(ours, theirs, a)


def test_output_array_and_in_place(rng):
    a = random_array(rng, (9, 10, 11), "float32")
    out = np.empty((9, 10, 11), np.float64)
    got = blur3d.gaussian_filter(a, 2.0, output=out)
    assert got is out
    check(out, ndimage.gaussian_filter(a, 2.0, output=np.float64), a)
    # In place: output is the input itself.
    b = a.copy()
    assert blur3d.gaussian_filter(b, 2.0, output=b) is b
    check(b, ndimage.gaussian_filter(a, 2.0), a)
    # An output view that overlaps the input in part.
    c = random_array(rng, (20, 10, 11), "float32")
    want = ndimage.gaussian_filter(c[:15].copy(), 1.0)
    blur3d.gaussian_filter(c[:15], 1.0, output=c[5:])
    check(c[5:], want, c)


def test_strided_fortran_and_big_endian_inputs(rng):
    base = random_array(rng, (20, 22, 24), "float32")
    views = [
        base[::2, 1::3, ::-1],
        base[3:17, ::-2, 5:],
        np.asfortranarray(base),
        base.transpose(2, 0, 1),
        base.astype(">f4"),
        base.astype(">f8")[::-1],
        random_array(rng, (9, 10, 11), "int16").astype(">i2"),
    ]
    for v in views:
        ours = blur3d.gaussian_filter(v, (1.0, 2.0, 1.5), mode="wrap")
        check(ours, ndimage.gaussian_filter(v, (1.0, 2.0, 1.5), mode="wrap"), v)


def test_strided_and_foreign_outputs(rng):
    a = random_array(rng, (8, 9, 10), "float32")
    want = ndimage.gaussian_filter(a, 1.5)
    big = np.zeros((8, 9, 20), np.float32)
    blur3d.gaussian_filter(a, 1.5, output=big[:, :, ::2])
    check(big[:, :, ::2], want, a)
    assert np.all(big[:, :, 1::2] == 0)
    f = np.zeros((8, 9, 10), np.float32, order="F")
    blur3d.gaussian_filter(a, 1.5, output=f)
    check(f, want, a)
    be = np.zeros((8, 9, 10), ">f4")
    blur3d.gaussian_filter(a, 1.5, output=be)
    check(be, want.astype(">f4"), a)
    ro = np.zeros((8, 9, 10), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        blur3d.gaussian_filter(a, 1.5, output=ro)


def test_complex(rng):
    a = random_array(rng, (8, 9, 10), "complex64")
    kw = dict(sigma=1.5, mode="constant", cval=1 + 2j)
    check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_gaussian_filter1d(rng, axis, mode):
    a = random_array(rng, (12, 13, 14), "float32")
    kw = dict(sigma=2.2, axis=axis, mode=mode, cval=-2.0)
    check(blur3d.gaussian_filter1d(a, **kw), ndimage.gaussian_filter1d(a, **kw), a)
    b = random_array(rng, (12, 13, 14), "uint8")
    check(blur3d.gaussian_filter1d(b, **kw), ndimage.gaussian_filter1d(b, **kw), b)
    kw = dict(sigma=2.2, axis=axis, radius=2, truncate=9.0)
    check(blur3d.gaussian_filter1d(a, **kw), ndimage.gaussian_filter1d(a, **kw), a)


BAD_ARGUMENTS = [
    ("unknown mode", lambda f, a: f(a, 1.0, mode="bogus")),
    ("mode not a string", lambda f, a: f(a, 1.0, mode=3)),
    ("sigma sequence too short", lambda f, a: f(a, [1.0, 2.0])),
    ("mode sequence too long", lambda f, a: f(a, 1.0, mode=["wrap"] * 4)),
    ("negative order", lambda f, a: f(a, 1.0, order=-1)),
    ("negative radius", lambda f, a: f(a, 1.0, radius=-1)),
    ("radius not an integer", lambda f, a: f(a, 1.0, radius=1.5)),
    ("output of another shape", lambda f, a: f(a, 1.0, output=np.zeros((2, 3, 4)))),
    ("output dtype float16", lambda f, a: f(a, 1.0, output=np.float16)),
    ("output dtype unknown", lambda f, a: f(a, 1.0, output="bogus")),
    ("output dtype complex for real input", lambda f, a: f(a, 1.0, output=np.complex128)),
    ("axis out of range", lambda f, a: f(a, 1.0, axes=(3,))),
    ("axes repeated", lambda f, a: f(a, 1.0, axes=(0, 0))),
    ("axes not integers", lambda f, a: f(a, 1.0, axes=(0.5,))),
    ("sigma not a number", lambda f, a: f(a, "a")),
    ("input float16", lambda f, a: f(a.astype(np.float16), 1.0)),
    ("input of objects", lambda f, a: f(a.astype(object), 1.0)),
]


@pytest.mark.parametrize("name,call", BAD_ARGUMENTS, ids=[b[0] for b in BAD_ARGUMENTS])
def test_bad_arguments_raise_what_scipy_raises(name, call):
    a = np.ones((4, 5, 6), np.float32)
    with pytest.raises(Exception) as scipy_error:
        call(ndimage.gaussian_filter, a)
    with pytest.raises(scipy_error.type):
        call(blur3d.gaussian_filter, a)


BAD_1D = [
    ("axis out of range", lambda f, a: f(a, 1.0, axis=3)),
    ("sigma 0", lambda f, a: f(a, 0.0)),
    ("negative sigma", lambda f, a: f(a, -2.0)),
    ("negative order", lambda f, a: f(a, 1.0, order=-2)),
    ("unknown mode", lambda f, a: f(a, 1.0, mode="grid")),
]


@pytest.mark.parametrize("name,call", BAD_1D, ids=[b[0] for b in BAD_1D])
def test_bad_arguments_1d(name, call):
    a = np.ones((4, 5, 6), np.float32)
    with pytest.raises(Exception) as scipy_error:
        call(ndimage.gaussian_filter1d, a)
    with pytest.raises(scipy_error.type):
        call(blur3d.gaussian_filter1d, a)


def test_adapters_and_blur_objects(rng):
    listed = blur3d.adapters()
    assert listed and all(len(a) == 3 for a in listed)
    a = random_array(rng, (6, 7, 8), "float32")
    want = ndimage.gaussian_filter(a, 1.0)
    for adapter in [0, listed[0][0][:4].upper()]:
        blur = blur3d.Blur(adapter=adapter)
        assert listed[0][0] in blur.adapter
        check(blur.gaussian_filter(a, 1.0), want, a)
    with pytest.raises(blur3d.GpuError, match="no GPU adapter matches"):
        blur3d.Blur(adapter="no such adapter")
    with pytest.raises(blur3d.GpuError):
        blur3d.Blur(adapter=len(listed))
    assert issubclass(blur3d.GpuError, RuntimeError)


def test_gpu_limits_are_gpu_errors():
    # A radius beyond the library's largest is a ValueError (a bad argument), not a crash.
    with pytest.raises(ValueError, match="radius"):
        blur3d.gaussian_filter(np.ones((4, 4, 4), np.float32), 1.0, radius=10**9)


def test_many_threads_at_once(rng):
    arrays = [random_array(rng, (16, 17, 18), "float32") for _ in range(8)]
    wants = [ndimage.gaussian_filter(a, 1.5, mode="wrap") for a in arrays]
    results = [None] * len(arrays)

    def work(i):
        results[i] = blur3d.gaussian_filter(arrays[i], 1.5, mode="wrap")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want, a in zip(results, wants, arrays):
        check(got, want, a)


def test_gil_released_while_the_gpu_works(rng):
    # One thread blurs a volume that takes the software adapter well over 50 ms; this one wakes
    # every 5 ms to run Python code, which needs the GIL. Were it held during the GPU work, this
    # thread would run once at most before the blur ends.
    a = random_array(rng, (160, 160, 160), "float32")
    blur3d.gaussian_filter(a[:8], 1.0)  # the device is made before
    worker = threading.Thread(target=blur3d.gaussian_filter, args=(a, 6.0))
    worker.start()
    ran_during = 0
    for _ in range(10):
        time.sleep(0.005)
        ran_during += worker.is_alive()
    worker.join()
    assert ran_during >= 5, f"Python ran {ran_during} times during the blur: the GIL was held"


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_orders(rng, mode):
    a = random_array(rng, (12, 13, 14), "float32")
    for order in [1, 2, 3, (0, 1, 2), (3, 0, 1)]:
        kw = dict(sigma=(1.5, 2.0, 1.2), order=order, mode=mode, cval=1.5)
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)
    kw = dict(sigma=2.0, axis=1, order=1, mode=mode)
    check(blur3d.gaussian_filter1d(a, **kw), ndimage.gaussian_filter1d(a, **kw), a)
    # Order with an explicit radius, radius 0 included (scipy's kernel is then 0 for odd orders).
    kw = dict(sigma=2.0, order=(1, 2, 1), radius=(0, 3, 2), mode=mode)
    check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)


def test_orders_into_integers(rng):
    a = random_array(rng, (12, 13, 14), "int16")
    for kw in [dict(sigma=1.5, order=(0, 1, 0)), dict(sigma=2.0, order=2, mode="wrap")]:
        check(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), a)
        check(
            blur3d.gaussian_filter(a, output=np.float32, **kw),
            ndimage.gaussian_filter(a, output=np.float32, **kw),
            a,
        )
        check(blur3d.gaussian_laplace(a, 1.5), ndimage.gaussian_laplace(a, 1.5), a)
    # Negative values into an unsigned output wrap around, and the next pass reads them wrapped,
    # as in scipy. They sit near 65535, where f32 resolves 1/256: truncation lands one apart
    # from scipy's f64 more often there (a few in a thousand).
    u = random_array(rng, (12, 13, 14), "uint16")
    for kw in [dict(sigma=1.5, order=(1, 0, 0)), dict(sigma=1.0, mode="constant", cval=-5000.0)]:
        ours, theirs = blur3d.gaussian_filter(u, **kw), ndimage.gaussian_filter(u, **kw)
        assert theirs.max() > 60000
        assert_integers_match(ours, theirs, rare=0.01)
    ours, theirs = blur3d.gaussian_laplace(u, 1.5), ndimage.gaussian_laplace(u, 1.5)
    assert_integers_match(ours, theirs, rare=0.01)


LAPLACE_CASES = [
    dict(sigma=1.5),
    dict(sigma=(1.0, 2.0, 1.5), mode="wrap"),
    dict(sigma=2.0, mode=("constant", "mirror", "nearest"), cval=3.0),
    dict(sigma=(1.0, 0.0, 2.0), mode=("wrap", "reflect", "constant")),
    dict(sigma=2.0, truncate=2.5),
    dict(sigma=2.0, radius=(3, 1, 2)),
    dict(sigma=(1.0, 2.0), axes=(2, 0), mode=("wrap", "nearest")),
    # scipy's gradient magnitude smooths the axes left out of `axes` too; its laplace does not.
    dict(sigma=1.5, axes=(0, 2), mode=("wrap", "constant")),
    dict(sigma=(1.0, 0.0, 2.0), axes=(0, 2)),
]


@pytest.mark.parametrize("func", ["gaussian_laplace", "gaussian_gradient_magnitude"])
@pytest.mark.parametrize("kw", LAPLACE_CASES, ids=[str(k) for k in LAPLACE_CASES])
def test_laplace_and_gradient_magnitude(rng, func, kw):
    for dtype in ["float32", "float64"]:
        a = random_array(rng, (11, 12, 13), dtype)
        try:
            want = getattr(ndimage, func)(a, **kw)
        except Exception as e:  # scipy's gradient magnitude takes one sigma per input axis
            with pytest.raises(type(e)):
                getattr(blur3d, func)(a, **kw)
            continue
        check(getattr(blur3d, func)(a, **kw), want, a)


@pytest.mark.parametrize("func", ["gaussian_laplace", "gaussian_gradient_magnitude"])
# scipy's integer gradient magnitude takes the root of sums of squares that overflowed (so do we).
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_laplace_and_gradient_magnitude_shapes_and_dtypes(rng, func):
    ours, theirs = getattr(blur3d, func), getattr(ndimage, func)
    # Integer outputs: scipy's terms, each truncated after every pass, summed as integers.
    # (Unsigned ones hold wrapped-around negative derivatives, whose squares overflow in
    # scipy's gradient magnitude: one voxel off by one in a term changes the result at random.)
    for dtype in ["int16", "int32"]:
        a = random_array(rng, (10, 11, 12), dtype)
        check(ours(a, 1.5), theirs(a, 1.5), a)
    a = random_array(rng, (10, 11, 12), "uint8")
    check(ours(a, 1.5, output=np.float32), theirs(a, 1.5, output=np.float32), a)
    for shape, kw in [
        ((30,), dict(sigma=2.0)),
        ((15, 17), dict(sigma=(1.0, 2.0), mode="wrap")),
        ((3, 9, 10, 11), dict(sigma=1.5, axes=(1, 2, 3))),
        ((4, 5, 6, 7), dict(sigma=1.0)),  # four axes: scipy's terms, one at a time
    ]:
        a = random_array(rng, shape, "float32")
        check(ours(a, **kw), theirs(a, **kw), a)
    a = random_array(rng, (8, 9, 10), "float32")
    out = np.empty((8, 9, 10), np.float64)
    assert ours(a[::-1], 1.5, output=out) is out
    check(out, theirs(a[::-1], 1.5, output=np.float64), a)
    # In place, scipy's later terms read the input as the first term overwrote it.
    mine, scipys = a.copy(), a.copy()
    assert ours(mine, 1.5, output=mine) is mine
    theirs(scipys, 1.5, output=scipys)
    check(mine, scipys, a)
    assert np.abs(scipys - theirs(a, 1.5)).max() > 1e-3 * np.abs(a).max()


def test_laplace_bad_arguments_raise_what_scipy_raises():
    a = np.ones((4, 5, 6), np.float32)
    for call in [
        lambda f: f(a, 1.0, mode="bogus"),
        lambda f: f(a, [1.0, 2.0]),
        lambda f: f(a, 1.0, mode=["wrap", "wrap"]),
        lambda f: f(a, 1.0, radius=-1),
        lambda f: f(a, 1.0, radius=(1, 2)),
        lambda f: f(a, 1.0, order=1),
        lambda f: f(a, 1.0, axes=(0, 0)),
        lambda f: f(a, 1.0, output=np.float16),
    ]:
        for name in ["gaussian_laplace", "gaussian_gradient_magnitude"]:
            with pytest.raises(Exception) as scipy_error:
                call(getattr(ndimage, name))
            with pytest.raises(scipy_error.type):
                call(getattr(blur3d, name))


def test_bool_arrays_as_scipy(rng):
    # scipy filters a bool array's bytes and stores a bool output as C stores a double into a
    # byte: True only where the blur reaches 1.
    a = rng.random((9, 10, 11)) > 0.3
    a[2:7, 3:8, 2:9] = True
    trues = 0
    for kw in [dict(sigma=1.0), dict(sigma=0.6, mode="nearest"), dict(sigma=1.0, order=(0, 1, 0))]:
        ours, theirs = blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw)
        assert ours.dtype == theirs.dtype == np.bool_
        # As for uint8 (scipy's f64 against the GPU's f32): a window of 1s sums to 1 in f64 and
        # may sum to 1 - 2^-24 in f32, which truncates to False.
        assert_integers_match(ours.view(np.uint8), theirs.view(np.uint8), rare=1e-2)
        trues += int(theirs.sum())
    assert trues > 0
    kw = dict(sigma=1.5, output=np.float32)
    assert_float_close(blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw), 1.0)


def test_a_nan_cval_is_nan_near_the_edges(rng):
    a = random_array(rng, (10, 11, 24), "float32")
    for kw in [dict(sigma=1.0), dict(sigma=(1.0, 0.0, 2.0), mode=("reflect", "wrap", "constant"))]:
        kw = dict(kw, mode=kw.get("mode", "constant"), cval=np.nan)
        ours, theirs = blur3d.gaussian_filter(a, **kw), ndimage.gaussian_filter(a, **kw)
        nan = np.isnan(theirs)
        assert nan.any() and not nan.all()
        np.testing.assert_array_equal(np.isnan(ours), nan)
        assert_float_close(ours[~nan], theirs[~nan], 1.0)


def test_a_line_longer_than_one_buffer(rng):
    # 36 M float32 values, 144 MB: more than one storage buffer of the software adapter
    # (128 MiB), cut into pieces with halos like any other volume.
    a = rng.random(36_000_000, dtype=np.float32)
    ours = blur3d.gaussian_filter(a, 2)
    theirs = ndimage.gaussian_filter(a, 2)
    assert_float_close(ours, theirs, 1.0)
    column = a[: 1_000_000 * 3].reshape(-1, 3)
    kw = dict(sigma=3.0, mode="wrap", axis=0)
    assert_float_close(blur3d.gaussian_filter1d(column, **kw), ndimage.gaussian_filter1d(column, **kw), 1.0)


def test_floats_into_small_integers_cast_as_c_casts(rng):
    # scipy stores a double into an integer output as C casts it: truncated toward zero, then
    # wrapped around; a pass of radius 0 (sigma 0.01) truncates too.
    x = np.array([-300, -3.7, 2.5, 300, 1000], "f4").reshape(1, 1, 5).repeat(2, 0)
    for sigma in [1.0, 0.01]:
        for dtype in [np.uint8, np.int8, np.uint16, np.int16]:
            ours = blur3d.gaussian_filter(x, sigma, output=dtype, axes=(0,))
            theirs = ndimage.gaussian_filter(x, sigma, output=dtype, axes=(0,))
            np.testing.assert_array_equal(ours, theirs)
    assert list(blur3d.gaussian_filter(x, 1, output=np.uint8, axes=(0,))[0, 0]) == [212, 253, 2, 44, 232]
    # Three passes, each stored wrapped and read back by the next, as scipy's.
    a = ((rng.random((10, 11, 12)) * 2 - 1) * 1000).astype(np.float32)
    for dtype in [np.uint8, np.int8, np.int16]:
        ours = blur3d.gaussian_filter(a, (1.0, 1.5, 0.7), output=dtype)
        theirs = ndimage.gaussian_filter(a, (1.0, 1.5, 0.7), output=dtype)
        assert ours.dtype == theirs.dtype
        # Truncation of an f32 sum may land one apart from scipy's f64 now and then; across the
        # wrap (-1 against 0) that is one apart modulo the type's range.
        span = 2 ** (8 * np.dtype(dtype).itemsize)
        diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        diff = np.minimum(diff, span - diff)
        assert diff.max() <= 1
        assert np.count_nonzero(diff) <= 0.01 * diff.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_filter_asked_two_ways_gives_the_same_bits(rng, dtype):
    # The same filter, asked as `axes=` in any order, as sigma 0 on the other axes, per slice,
    # per volume of a batch, or as gaussian_filter1d: equal to the bit (not within a tolerance).
    for trial in range(6):
        shape = tuple(int(n) for n in rng.integers(3, 20, size=3))
        a = random_array(rng, shape, dtype)
        sigma = float(rng.uniform(0.5, 3.0))
        mode = MODES[trial % len(MODES)]
        kw = dict(mode=mode, cval=1.5)
        for axes in [(0, 2), (2, 0), (1, 2), (2, 1), (0, 1, 2), (2, 0, 1)]:
            full = [sigma if i in axes else 0.0 for i in range(3)]
            ours = blur3d.gaussian_filter(a, sigma, axes=axes, **kw)
            np.testing.assert_array_equal(ours, blur3d.gaussian_filter(a, full, **kw), f"{shape} {axes} {kw}")
        # A slice, and the same slice of the volume with sigma 0 along the axis that cuts it.
        planes = blur3d.gaussian_filter(a, (0.0, sigma, sigma), **kw)
        np.testing.assert_array_equal(blur3d.gaussian_filter(a[1], sigma, **kw), planes[1])
        # One volume, and the same volume in a batch.
        batch = np.stack([a, a[::-1].copy(), a])
        together = blur3d.gaussian_filter(batch, sigma, axes=(1, 2, 3), **kw)
        np.testing.assert_array_equal(together[1], blur3d.gaussian_filter(a[::-1].copy(), sigma, **kw))
        # One axis, either way.
        np.testing.assert_array_equal(
            blur3d.gaussian_filter1d(a, sigma, axis=1, **kw), blur3d.gaussian_filter(a, sigma, axes=(1,), **kw)
        )
