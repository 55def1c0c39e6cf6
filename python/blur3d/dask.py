"""scipy.ndimage's Gaussian filters on dask arrays, chunk by chunk on the GPU.

Each function takes a dask array and scipy's arguments (no ``output=``; ``dtype=`` chooses the
result's dtype, the input's by default) and returns a lazy dask array equal to the scipy function
applied to the whole array. Chunks are blurred with ``map_overlap`` and an overlap of the kernel's
radius along each filtered axis:

- at the array's true edges the GPU itself applies the mode, exactly as scipy does at the edges
  of the whole array (dask pads nothing there: ``boundary='none'``);
- ``wrap`` needs the other end of the axis: dask's periodic overlap brings it;
- an axis shorter than the kernel's radius, or filtered with ``wrap`` in one term and another mode
  in another (laplace and gradient magnitude with per-axis modes), is made one chunk.

Chunks are merged into blocks of about ``BLOCK_BYTES`` (64 MiB; ``block_bytes=`` per call, 0 to
keep the chunks) before the GPU filters them, and the result comes back in the input's chunks:
one device filters one large block faster than many small ones, each with its halo.

``dtype=`` and ``meta=`` are given to dask, so the GPU never runs on dummy arrays. Every worker
process makes its own device on first use (``blur3d.default()``); ``AdapterPerWorker`` spreads
the workers of a dask.distributed cluster over the adapters.
"""

import re

import dask.array as da
import numpy as np

try:
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # dask without dask.distributed: the plugin is of no use there
    _WorkerPlugin = object

from . import _filters

__all__ = [
    "AdapterPerWorker",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_laplace",
    "gaussian_gradient_magnitude",
]


def _axis_terms(ndim, axes, sigma, mode, truncate, radius):
    """Per axis: the kernel radius, and the set of modes the terms use on it (scipy's rules)."""
    axes = _filters._check_axes(axes, ndim)
    n = len(axes)
    sigmas = _filters._normalize_sequence(sigma, n)
    modes = _filters._normalize_sequence(mode, n)
    radii = _filters._normalize_sequence(radius, n)
    depth = {}
    for ax, s, m, r in zip(axes, sigmas, modes, radii):
        _filters._check_mode(m)
        depth[ax] = _filters._radius(s, truncate, r) if s > 1e-15 else 0
    return axes, modes, depth


# Blocks a filter runs on: the array's chunks merged up to about this many bytes (whole chunks,
# the last axes first), the result given back in the array's own chunks. One device runs one large
# block faster than many small ones, each with its halo (a 64^3 chunk with a halo of 12 is 2.6
# times its own volume); 0 keeps the chunks as they are. ``block_bytes=`` sets it per call.
BLOCK_BYTES = 64 << 20


def _merged(darr, target):
    """``darr`` rechunked into blocks of whole chunks of about ``target`` bytes at most (never
    smaller than a chunk): whole along the last axes first, as many chunks as fit along the next."""
    size = [max(c) if c else 0 for c in darr.chunks]
    block = list(size)
    for ax in reversed(range(darr.ndim)):
        others = darr.dtype.itemsize * int(np.prod([b for i, b in enumerate(block) if i != ax]))
        fit = target // max(others, 1)
        if fit >= darr.shape[ax]:
            block[ax] = darr.shape[ax]
            continue
        block[ax] = max(size[ax], fit // max(size[ax], 1) * size[ax])
        break
    return darr if block == size else darr.rechunk(tuple(block))


def _blurred(darr, func, depth, modes_on_axis, dtype, **kwargs):
    """``map_overlap`` of ``func`` (a ``blur3d.Blur`` method name) with the overlap and boundary
    every axis needs for ``modes_on_axis[axis]`` (the set of modes used along it), on blocks of
    merged chunks (``BLOCK_BYTES``); the result in ``darr``'s chunks."""
    dtype = np.dtype(darr.dtype if dtype is None else dtype)
    block_bytes = kwargs.pop("block_bytes", None)
    block_bytes = BLOCK_BYTES if block_bytes is None else int(block_bytes)
    chunks = darr.chunks
    if block_bytes > 0:
        darr = _merged(darr, block_bytes)
    whole = {}
    overlap = {}
    boundary = {}
    for ax in range(darr.ndim):
        r = depth.get(ax, 0)
        modes = modes_on_axis.get(ax, set())
        periodic = {m in ("wrap", "grid-wrap") for m in modes}
        if r == 0 or len(darr.chunks[ax]) == 1:
            overlap[ax], boundary[ax] = 0, "none"
        elif r >= darr.shape[ax] or len(periodic) > 1:
            whole[ax] = -1
            overlap[ax], boundary[ax] = 0, "none"
        else:
            overlap[ax] = r
            boundary[ax] = "periodic" if True in periodic else "none"
    if whole:
        darr = darr.rechunk(whole)

    def block(chunk):
        return getattr(_filters.default(), func)(chunk, output=dtype, **kwargs)

    result = da.map_overlap(
        block,
        darr,
        depth=overlap,
        boundary=boundary,
        trim=True,
        allow_rechunk=True,
        dtype=dtype,
        meta=np.empty((0,) * darr.ndim, dtype),
    )
    return result if result.chunks == chunks else result.rechunk(chunks)


def gaussian_filter(
    darr, sigma, order=0, mode="reflect", cval=0.0, truncate=4.0, *, radius=None, axes=None, dtype=None, **kwargs
):
    """``scipy.ndimage.gaussian_filter`` of a dask array (``kwargs``: ``round_once``)."""
    darr = da.asarray(darr)
    axes_, modes, depth = _axis_terms(darr.ndim, axes, sigma, mode, truncate, radius)
    on_axis = {ax: {m} for ax, m in zip(axes_, modes)}
    return _blurred(
        darr,
        "gaussian_filter",
        depth,
        on_axis,
        dtype,
        sigma=sigma,
        order=order,
        mode=mode,
        cval=cval,
        truncate=truncate,
        radius=radius,
        axes=axes,
        **kwargs,
    )


def gaussian_filter1d(
    darr, sigma, axis=-1, order=0, mode="reflect", cval=0.0, truncate=4.0, *, radius=None, dtype=None, **kwargs
):
    """``scipy.ndimage.gaussian_filter1d`` of a dask array (``kwargs``: ``round_once``)."""
    darr = da.asarray(darr)
    ax = _filters.normalize_axis_index(axis, darr.ndim)
    _filters._check_mode(mode)
    depth = {ax: _filters._radius(abs(float(sigma)), truncate, radius)}
    return _blurred(
        darr,
        "gaussian_filter1d",
        depth,
        {ax: {mode}},
        dtype,
        sigma=sigma,
        axis=axis,
        order=order,
        mode=mode,
        cval=cval,
        truncate=truncate,
        radius=radius,
        **kwargs,
    )


def _sum_of_terms(func, darr, sigma, mode, cval, axes, dtype, kwargs):
    """Laplace and gradient magnitude: term i filters every axis in ``axes`` with mode i."""
    darr = da.asarray(darr)
    truncate = kwargs.get("truncate", 4.0)
    axes_ = _filters._check_axes(axes, darr.ndim)
    modes = [_filters._check_mode(m) for m in _filters._normalize_sequence(mode, len(axes_))]
    if func == "gaussian_gradient_magnitude":
        # scipy gives every term's gaussian_filter `sigma` as it is: one per axis of the input,
        # so the axes left out of `axes` are smoothed too and need their overlap.
        every = _filters._normalize_sequence(sigma, darr.ndim)
    else:
        # gaussian_laplace: one sigma per axis in `axes`, 0 on the others.
        _, every = _filters.Blur._sigma_over_axes(darr, sigma, axes)
    # Each term's gaussian_filter takes `radius` over every axis of the input.
    radii = _filters._normalize_sequence(kwargs.get("radius"), darr.ndim)
    smoothed = [ax for ax in range(darr.ndim) if every[ax] > 1e-15]
    depth = {ax: _filters._radius(every[ax], truncate, radii[ax]) for ax in smoothed}
    on_axis = {ax: set(modes) for ax in smoothed}
    return _blurred(darr, func, depth, on_axis, dtype, sigma=sigma, mode=mode, cval=cval, axes=axes, **kwargs)


def gaussian_laplace(darr, sigma, mode="reflect", cval=0.0, *, axes=None, dtype=None, **kwargs):
    """``scipy.ndimage.gaussian_laplace`` of a dask array (``kwargs``: ``truncate``, ``radius``,
    ``round_once``)."""
    return _sum_of_terms("gaussian_laplace", darr, sigma, mode, cval, axes, dtype, kwargs)


def gaussian_gradient_magnitude(darr, sigma, mode="reflect", cval=0.0, *, axes=None, dtype=None, **kwargs):
    """``scipy.ndimage.gaussian_gradient_magnitude`` of a dask array (``kwargs``: ``truncate``,
    ``radius``, ``round_once``)."""
    return _sum_of_terms("gaussian_gradient_magnitude", darr, sigma, mode, cval, axes, dtype, kwargs)


class AdapterPerWorker(_WorkerPlugin):
    """A dask.distributed worker plugin giving each worker process a GPU of its own.

    Worker ``i`` (the number a worker's name ends with: a ``LocalCluster`` names them 0, 1, ...,
    ``dask worker --name gpu1`` is 1; 0 for a name without one) uses adapter ``i % len(adapters)`` of ``adapters`` (indices or name parts, as
    ``blur3d.Blur`` takes them; by default every adapter ``blur3d.adapters()`` lists). Register it
    with ``client.register_plugin(AdapterPerWorker())`` before computing.
    """

    name = "blur3d-adapter-per-worker"

    def __init__(self, adapters=None):
        self.adapters = None if adapters is None else list(adapters)

    def setup(self, worker):
        adapters = self.adapters
        if adapters is None:
            adapters = list(range(len(_filters.adapters())))
        number = re.search(r"(\d+)$", str(worker.name))
        ordinal = int(number.group(1)) if number else 0
        _filters.use_adapter(adapters[ordinal % len(adapters)])
