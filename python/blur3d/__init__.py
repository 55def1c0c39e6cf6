"""blur3d: scipy.ndimage's Gaussian filters on any GPU (Vulkan, Metal, DX12, GL through wgpu).

``blur3d.gaussian_filter``, ``gaussian_filter1d``, ``gaussian_laplace`` and
``gaussian_gradient_magnitude`` take scipy's arguments and return scipy's results (float64 and
32/64-bit integer results computed in f64, float32 and narrower ones in f32). The module functions run on one device per process, made on first use; ``Blur(adapter)``
holds a device of its own, ``adapters()`` lists them. ``blur3d.dask`` applies the same filters to
dask arrays, chunk by chunk with the right overlap.
"""

from ._filters import (
    Blur,
    GpuError,
    adapters,
    default,
    gaussian_filter,
    gaussian_filter1d,
    gaussian_gradient_magnitude,
    gaussian_laplace,
    use_adapter,
)

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
