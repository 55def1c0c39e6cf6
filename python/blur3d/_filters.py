"""scipy.ndimage's Gaussian filters on the GPU: argument handling as scipy's, work in ``_native``.

Every function here follows ``scipy.ndimage._filters`` step by step (the same checks, raising the
same exception types, the same passes in the same order, the same intermediate dtype), so that
results equal scipy's up to the GPU's arithmetic (f64 for float64 and 32/64-bit integer outputs,
f32 for the others). The GPU filters 3-D volumes: the axes a call
filters (at most three) are moved last, the others form a batch, which the library runs in one call.
"""

import numbers
import operator
import threading
from collections.abc import Iterable

import numpy as np

from . import _native
from ._arrays import foreign_arrays
from ._native import GpuError

try:  # numpy >= 2
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import normalize_axis_index

__all__ = [
    "Blur",
    "GpuError",
    "adapters",
    "default",
    "use_adapter",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_laplace",
    "gaussian_gradient_magnitude",
]

# scipy's names of the boundary modes a filter accepts, as the library spells them.
_MODES = tuple(_native.MODE_NAMES)


def adapters():
    """The GPU adapters wgpu sees, as ``(name, backend, device type)`` tuples.

    ``Blur(adapter=i)`` opens the i-th; ``WGPU_BACKEND`` (vulkan, metal, dx12, gl) restricts the
    backends searched.
    """
    return _native.adapters()


# ---- scipy's argument helpers (scipy.ndimage._ni_support), with scipy's exceptions ----


def _normalize_sequence(value, rank):
    if not isinstance(value, str) and np.iterable(value):
        normalized = list(value)
        if len(normalized) != rank:
            raise RuntimeError("sequence argument must have length equal to input rank")
        return normalized
    return [value] * rank


def _check_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if np.isscalar(axes):
        axes = (operator.index(axes),)
    elif isinstance(axes, Iterable):
        axes = tuple(operator.index(ax) for ax in axes)
        for ax in axes:
            if ax < -ndim or ax > ndim - 1:
                raise ValueError(f"specified axis: {ax} is out of range")
        axes = tuple(ax % ndim if ax < 0 else ax for ax in axes)
    else:
        raise ValueError("axes must be an integer, iterable of integers, or None")
    if len(set(axes)) != len(axes):
        raise ValueError("axes must be unique")
    return axes


def _get_output(output, input):
    if output is None:
        return np.zeros(input.shape, dtype=input.dtype.name)
    if isinstance(output, (type, np.dtype)):
        return np.zeros(input.shape, dtype=output)
    if isinstance(output, str):
        dtype = np.dtype(output)
        if not issubclass(dtype.type, np.number):
            raise RuntimeError("output must have numeric dtype")
        return np.zeros(input.shape, dtype=dtype)
    output = np.asarray(output)
    if output.shape != input.shape:
        raise RuntimeError("output shape not correct")
    return output


def _check_mode(mode):
    if not isinstance(mode, str) or mode not in _MODES:
        raise RuntimeError("boundary mode not supported")
    return mode


def _radius(sigma, truncate, radius):
    """scipy's kernel radius of one axis (``gaussian_filter1d``'s rule and check)."""
    lw = int(truncate * float(sigma) + 0.5)
    if radius is not None:
        lw = radius
    if not isinstance(lw, numbers.Integral) or lw < 0:
        raise ValueError("Radius must be a nonnegative integer.")
    return int(lw)


def _check_dtype(dtype):
    if dtype.kind not in "iufc" or (dtype.kind == "f" and dtype.itemsize not in (4, 8)):
        raise RuntimeError(f"array type {dtype!r} not supported")
    if dtype.kind == "c" and dtype.itemsize not in (8, 16):
        raise RuntimeError(f"array type {dtype!r} not supported")


def _stays_in_range(source, target, passes, cval):
    """Whether every pass of a blur of ``source`` values stores values within ``target``'s range:
    integers the target holds, smoothed (weights of one sign) with a cval it holds."""
    if source.kind not in "iub" or not np.can_cast(source, target, "safe"):
        return False
    if any(g.order > 0 for g in passes):
        return False
    info = np.iinfo(target)
    return not any("constant" in g.mode for g in passes) or info.min <= cval <= info.max


class _Pass:
    """One axis of a Gaussian filter: scipy's ``gaussian_filter1d`` call, validated."""

    __slots__ = ("axis", "sigma", "order", "mode", "radius")

    def __init__(self, axis, sigma, order, mode, truncate, radius, ndim):
        self.radius = _radius(sigma, truncate, radius)
        order = operator.index(order)
        if order < 0:
            raise ValueError("order must be non-negative")
        # A single axis in `axes` may be negative (scipy normalizes it in correlate1d).
        self.axis = normalize_axis_index(axis, ndim)
        # The kernel depends on sigma squared only, as scipy's does.
        self.sigma = abs(float(sigma))
        self.order = order
        self.mode = _check_mode(mode)


class Blur:
    """scipy.ndimage's Gaussian filters on one GPU device.

    ``adapter`` chooses the device: an index into :func:`adapters`, a case-insensitive part of an
    adapter's name, or None for the default (the adapter ``WGPU_ADAPTER_NAME`` names, else the
    fastest). The methods take scipy's arguments and return scipy's results; they release the GIL
    while the GPU works and may be called from many threads at once.

    Integer outputs equal scipy's, which truncates toward zero after every axis; the keyword
    ``round_once=True`` keeps the arithmetic through all axes and rounds to nearest once instead (closer to
    the exact value, and what blur3d's Rust API does).
    """

    def __init__(self, adapter=None):
        self._device = _native.Device(adapter)

    @property
    def adapter(self):
        """The adapter in use: ``name (backend, device type)``."""
        return self._device.adapter

    def __repr__(self):
        return f"blur3d.Blur(adapter={self.adapter!r})"

    # ---- scipy's functions ----

    @foreign_arrays
    def gaussian_filter(
        self,
        input,
        sigma,
        order=0,
        output=None,
        mode="reflect",
        cval=0.0,
        truncate=4.0,
        *,
        radius=None,
        axes=None,
        round_once=False,
    ):
        """``scipy.ndimage.gaussian_filter`` (same arguments, same result, computed on the GPU).

        ``round_once``: for integer outputs, round to nearest once after all axes instead of
        scipy's truncation toward zero after every axis.
        """
        input = np.asarray(input)
        output = _get_output(output, input)
        axes = _check_axes(axes, input.ndim)
        n = len(axes)
        orders = _normalize_sequence(order, n)
        sigmas = _normalize_sequence(sigma, n)
        modes = _normalize_sequence(mode, n)
        radii = _normalize_sequence(radius, n)
        passes = [
            _Pass(axes[i], sigmas[i], orders[i], modes[i], truncate, radii[i], input.ndim)
            for i in range(n)
            if sigmas[i] > 1e-15
        ]
        self._filter(input, output, passes, cval, round_once)
        return output

    @foreign_arrays
    def gaussian_filter1d(
        self,
        input,
        sigma,
        axis=-1,
        order=0,
        output=None,
        mode="reflect",
        cval=0.0,
        truncate=4.0,
        *,
        radius=None,
        round_once=False,
    ):
        """``scipy.ndimage.gaussian_filter1d`` on the GPU (``round_once`` as in gaussian_filter)."""
        input = np.asarray(input)
        gaussian = _Pass(axis, sigma, order, mode, truncate, radius, input.ndim)
        # scipy's kernel divides by sigma squared: sigma 0 fails there.
        -0.5 / (gaussian.sigma * gaussian.sigma)
        output = _get_output(output, input)
        self._filter(input, output, [gaussian], cval, round_once)
        return output

    @foreign_arrays
    def gaussian_laplace(self, input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
        """``scipy.ndimage.gaussian_laplace`` on the GPU: the sum over the axes of second
        derivatives, term i using mode i on every axis, as scipy's ``generic_laplace``.

        Float outputs over at most three axes are one GPU filter per batch of volumes (shared
        smoothing passes, the sum on the GPU); otherwise scipy's terms are combined as scipy
        combines them (integer outputs in integer arithmetic). Extra keywords (``truncate``,
        ``radius``, ``round_once``) go to :meth:`gaussian_filter`.
        """
        input = np.asarray(input)

        def derivative2(input, axis, output, mode, cval, sigma, **kwargs):
            order = [0] * input.ndim
            order[axis] = 2
            return self.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)

        axes, sigma = self._sigma_over_axes(input, sigma, axes)
        output = _get_output(output, input)
        if self._summed("gaussian_laplace", input, output, axes, sigma, mode, cval, kwargs):
            return output
        if len(axes) == 0:
            output[...] = input[...]
            return output
        modes = _normalize_sequence(mode, len(axes))
        derivative2(input, axes[0], output, modes[0], cval, sigma, **kwargs)
        for i in range(1, len(axes)):
            tmp = derivative2(input, axes[i], output.dtype, modes[i], cval, sigma, **kwargs)
            output += tmp
        return output

    @foreign_arrays
    def gaussian_gradient_magnitude(
        self, input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs
    ):
        """``scipy.ndimage.gaussian_gradient_magnitude`` on the GPU: the root of the sum over the
        axes of squared first derivatives, term i using mode i on every axis, as scipy's
        ``generic_gradient_magnitude`` (integer outputs in integer arithmetic, as scipy). As in
        scipy, ``sigma`` applies to every axis of the input, also those left out of ``axes``.

        Computed as :meth:`gaussian_laplace` is. Extra keywords (``truncate``, ``radius``,
        ``round_once``) go to :meth:`gaussian_filter`.
        """
        input = np.asarray(input)

        def derivative(input, axis, output, mode, cval, sigma, **kwargs):
            order = [0] * input.ndim
            order[axis] = 1
            return self.gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)

        output = _get_output(output, input)
        axes = _check_axes(axes, input.ndim)
        if len(axes) == 0:
            output[...] = input[...]
            return output
        # Unlike gaussian_laplace, scipy gives `sigma` to every term's gaussian_filter as it is:
        # one sigma per axis of the input, axes left out of `axes` smoothed too.
        every = _normalize_sequence(sigma, input.ndim)
        if all(not every[ax] > 1e-15 for ax in range(input.ndim) if ax not in axes) and self._summed(
            "gaussian_gradient_magnitude", input, output, axes, every, mode, cval, kwargs
        ):
            return output
        modes = _normalize_sequence(mode, len(axes))
        derivative(input, axes[0], output, modes[0], cval, sigma, **kwargs)
        np.multiply(output, output, output)
        for i in range(1, len(axes)):
            tmp = derivative(input, axes[i], output.dtype, modes[i], cval, sigma, **kwargs)
            np.multiply(tmp, tmp, tmp)
            output += tmp
        np.sqrt(output, output, casting="unsafe")
        return output

    # ---- the work ----

    @staticmethod
    def _sigma_over_axes(input, sigma, axes):
        """scipy's sigma of every axis for laplace / gradient magnitude: 0 off ``axes``."""
        axes = _check_axes(axes, input.ndim)
        sigma = _normalize_sequence(sigma, len(axes))
        if len(axes) < input.ndim:
            full = [0] * input.ndim
            for s, ax in zip(sigma, axes):
                full[ax] = s
            sigma = full
        return axes, sigma

    def _filter(self, input, output, passes, cval, round_once):
        """Runs ``passes`` (scipy's gaussian_filter1d calls, in order) from input into output."""
        if not passes:
            output[...] = input[...]
            return
        # scipy reads a bool array as bytes of 0 and 1 and stores into a bool output as C stores
        # a double into a byte (truncated toward zero): what it does for uint8.
        if input.dtype == np.bool_:
            input = input.view(np.uint8)
        if output.dtype == np.bool_:
            output = output.view(np.uint8)
        _check_dtype(input.dtype)
        _check_dtype(output.dtype)
        if input.dtype.kind == "c":
            return self._filter_complex(input, output, passes, cval, round_once)
        if output.dtype.kind == "c":
            raise RuntimeError(f"array type {output.dtype!r} not supported")
        if input.size == 0:
            return
        input, target = _gpu_arrays(input, output)
        truncating = target.dtype.kind in "iu" and not round_once
        cval = float(cval)
        if not truncating:
            # One filter, one answer: the passes run in axis order whatever order `axes` lists
            # them in (or sigma 0 leaves out), so that the same filter asked two ways gives the
            # same bits. Only truncating passes keep scipy's order, which changes their result.
            passes = sorted(passes, key=lambda g: g.axis)
        # scipy stores every pass in the output's dtype. The GPU runs at most three passes per
        # call, each group from the output of the last, as scipy's order. A value outside the
        # output type's range (a float input, a derivative, a cval beyond it) is stored as C
        # casts a double to that type: truncated, then wrapped around (-3.7 into uint8 is 253,
        # 300 is 44), and the next pass reads the wrapped values: then one pass at a time, each
        # truncated into int64 on the GPU and wrapped as numpy stores integers.
        wrapping = truncating and not _stays_in_range(input.dtype, target.dtype, passes, cval)
        per_call = 1 if wrapping else 3
        source = input
        for start in range(0, len(passes), per_call):
            group = passes[start : start + per_call]
            if start > 0:
                source = target.copy()
            into = np.empty(target.shape, np.int64) if wrapping else target
            self._volumes(
                "gaussian_filter",
                source,
                into,
                [g.axis for g in group],
                [g.sigma for g in group],
                [g.order for g in group],
                [g.mode for g in group],
                [g.radius for g in group],
                cval,
                truncating,
            )
            if wrapping:
                target[...] = into
        if target is not output:
            output[...] = target

    def _filter_complex(self, input, output, passes, cval, round_once):
        """Complex arrays: real and imaginary parts apart, as scipy does (the filter is real)."""
        if output.dtype.kind != "c":
            raise RuntimeError("output must have complex dtype")
        if np.may_share_memory(input, output):
            input = input.copy()
        self._filter(input.real, output.real, passes, np.real(cval), round_once)
        self._filter(input.imag, output.imag, passes, np.imag(cval), round_once)

    def _summed(self, filter, input, output, axes, sigma, mode, cval, kwargs):
        """Laplace or gradient magnitude (``filter``) in one GPU call per batch of volumes, when
        that gives scipy's result: a float output, at most three axes and keywords the library
        takes. Returns False when the caller must combine scipy's terms itself."""
        if not (
            0 < len(axes) <= 3
            and set(kwargs) <= {"truncate", "radius", "round_once"}
            and input.dtype.kind in "iuf"
            and output.dtype.kind == "f"
            # scipy writes the first term into `output` before it reads `input` for the next:
            # an output that is the input gives scipy's result only term by term.
            and not np.may_share_memory(input, output)
        ):
            return False
        _check_dtype(input.dtype)
        _check_dtype(output.dtype)
        # As scipy's gaussian_filter gets them from each term: over every axis of the input.
        truncate = kwargs.get("truncate", 4.0)
        radii = _normalize_sequence(kwargs.get("radius"), input.ndim)
        modes = [_check_mode(m) for m in _normalize_sequence(mode, len(axes))]
        sigmas, radius = [], []
        for ax in axes:
            skipped = not sigma[ax] > 1e-15
            sigmas.append(0.0 if skipped else float(sigma[ax]))
            radius.append(0 if skipped else _radius(sigma[ax], truncate, radii[ax]))
        if input.size == 0:
            return True
        input, target = _gpu_arrays(input, output)
        self._volumes(filter, input, target, axes, sigmas, [0] * len(axes), modes, radius, float(cval), False)
        if target is not output:
            output[...] = target
        return True

    def _volumes(self, filter, source, target, axes, sigma, order, mode, radius, cval, truncating):
        """Runs ``filter`` on the GPU over ``axes`` (at most three; per axis ``sigma``, ``order``,
        ``mode``, ``radius``): each 3-D volume has those axes last, in their order, and as many
        other axes before them as make three (not filtered); the remaining axes are a batch of
        volumes, which the library takes in one call (uploading as many volumes at once as fit
        one buffer), not one call per volume.
        """
        ndim = source.ndim
        others = [a for a in range(ndim) if a not in axes]
        spare = 3 - len(axes)
        inside = others[len(others) - spare :] if spare else []
        batch = others[: len(others) - len(inside)]
        # The batch axes in the output's memory order (largest stride first), so that they merge
        # into one axis of a view of it.
        batch.sort(key=lambda a: -abs(target.strides[a]))
        src = source.transpose(batch + inside + list(axes))
        dst = target.transpose(batch + inside + list(axes))
        volume = (1,) * (spare - len(inside)) + src.shape[len(batch) :]
        per_axis = [
            [0.0] * spare + list(sigma),
            [0] * spare + list(order),
            ["reflect"] * spare + list(mode),
            [False] * spare + [True] * len(axes),
            [0] * spare + list(radius),
        ]
        if spare == 2 and volume[:2] == (1, 1):
            # A line (one axis filtered, nothing else in the volume): as the volume's axis 0,
            # which the library cuts into slabs with halos when the line is longer than one
            # buffer; as axis 2, one row, it could not be cut.
            volume = (volume[2], 1, 1)
            per_axis = [values[2:] + values[:2] for values in per_axis]
        sigmas, orders, modes, filtered, radii = per_axis
        args = (sigmas, orders, modes, filtered, cval, radii, truncating)
        for src4, dst4 in _batches(src, dst, len(batch), volume):
            self._device.filter(filter, src4, dst4, *args)


def _batches(src, dst, nbatch, volume):
    """``src`` and ``dst`` (the same shape: ``nbatch`` batch axes, then a volume's axes) as pairs
    of 4-D views, a batch axis first and the volume's three axes (shape ``volume``) after: all
    batch axes merged into one where the strides of both allow it, which they do when the two
    arrays have the same memory order. Where they do not, the outer batch axes are looped over
    (a few calls rather than a copy of either array)."""
    shape = (-1,) + tuple(volume)
    for outer in range(nbatch + 1):
        first = (0,) * outer
        if _reshaped_view(src[first], shape) is not None and _reshaped_view(dst[first], shape) is not None:
            break
    for index in np.ndindex(*src.shape[:outer]):
        yield _reshaped_view(src[index], shape), _reshaped_view(dst[index], shape)


def _reshaped_view(array, shape):
    """``array`` reshaped to ``shape`` as a view of it, or None when that needs a copy."""
    reshaped = array.reshape(shape)
    return reshaped if np.may_share_memory(reshaped, array) else None


def _gpu_arrays(input, output):
    """The input and output as the GPU reads and writes them: native byte order, aligned, not
    overlapping (copies only where needed); the output is a temporary to copy back into
    ``output`` when the returned one is not ``output`` itself."""
    target = output
    if not (output.dtype.isnative and output.flags.aligned and output.flags.writeable):
        # The copy back into `output` converts (and raises numpy's error for a read-only one).
        target = np.empty(output.shape, output.dtype.newbyteorder("="))
    if not (input.dtype.isnative and input.flags.aligned) or np.may_share_memory(input, target):
        input = input.astype(input.dtype.newbyteorder("="), order="K", copy=True)
    return input, target


_default = None
_default_lock = threading.Lock()


def default():
    """The :class:`Blur` the module functions use, made on first use (one per process)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Blur()
    return _default


def use_adapter(adapter):
    """Makes the module functions run on ``adapter`` (as :class:`Blur` takes it) in this process."""
    global _default
    blur = Blur(adapter)
    with _default_lock:
        _default = blur
    return blur


def gaussian_filter(
    input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None, axes=None, **kwargs
):
    """``scipy.ndimage.gaussian_filter`` on the GPU: see :meth:`Blur.gaussian_filter`."""
    return default().gaussian_filter(
        input, sigma, order, output, mode, cval, truncate, radius=radius, axes=axes, **kwargs
    )


def gaussian_filter1d(
    input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None, **kwargs
):
    """``scipy.ndimage.gaussian_filter1d`` on the GPU: see :meth:`Blur.gaussian_filter1d`."""
    return default().gaussian_filter1d(input, sigma, axis, order, output, mode, cval, truncate, radius=radius, **kwargs)


def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """``scipy.ndimage.gaussian_laplace`` on the GPU: see :meth:`Blur.gaussian_laplace`."""
    return default().gaussian_laplace(input, sigma, output, mode, cval, axes=axes, **kwargs)


def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """``scipy.ndimage.gaussian_gradient_magnitude`` on the GPU: see
    :meth:`Blur.gaussian_gradient_magnitude`."""
    return default().gaussian_gradient_magnitude(input, sigma, output, mode, cval, axes=axes, **kwargs)
