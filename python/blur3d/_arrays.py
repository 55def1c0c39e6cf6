"""Arrays of other libraries in and out: any array with ``__dlpack__`` (PyTorch, CuPy, JAX,
array_api_strict, ...) is filtered as numpy sees it, zero-copy on the host where DLPack allows,
and the result comes back as an array of the input's library on the input's device, as scipy
returns them with ``SCIPY_ARRAY_API=1``. Arrays on a GPU go through host memory.
"""

import functools

import numpy as np


def _namespace(x):
    """The array library of ``x`` when it is not numpy's and speaks DLPack, else ``None``."""
    if isinstance(x, np.ndarray) or not hasattr(x, "__dlpack__"):
        return None
    if hasattr(x, "__array_namespace__"):
        return x.__array_namespace__()
    # PyTorch < 2.x and other libraries without the array API: their module.
    module = type(x).__module__.split(".")[0]
    return __import__(module)


def _to_numpy(x):
    """``x`` as a numpy array: a view of its memory on the host, a copy from a GPU."""
    try:
        return np.from_dlpack(x)
    except (BufferError, RuntimeError, TypeError, ValueError):
        pass
    try:  # DLPack 1.0: ask the producer for a copy on the host.
        return np.from_dlpack(x, device="cpu", copy=True)
    except (BufferError, RuntimeError, TypeError, ValueError, AttributeError):
        pass
    for to_host in ("cpu", "get"):  # PyTorch's .cpu(), CuPy's .get()
        if hasattr(x, to_host):
            host = getattr(x, to_host)()
            return host if isinstance(host, np.ndarray) else np.from_dlpack(host)
    raise TypeError(f"blur3d cannot read a {type(x).__name__} on the host: pass a numpy array")


def _device(x):
    device = getattr(x, "device", None)
    return None if callable(device) else device


def _from_numpy(result, xp, device):
    """``result`` as an array of ``xp`` on ``device``."""
    out = xp.from_dlpack(result) if hasattr(xp, "from_dlpack") else xp.asarray(result)
    if device is not None and _device(out) != device:
        out = xp.asarray(out, device=device)
    return out


def _numpy_dtype(xp, dtype):
    """A dtype of ``xp`` (``torch.float32``, ``xp.int16``) as numpy's."""
    return np.from_dlpack(xp.empty((0,), dtype=dtype)).dtype


def foreign_arrays(method):
    """Lets a ``Blur`` method take another library's array (and ``output`` as that library's
    dtype or array) and return that library's array."""

    @functools.wraps(method)
    def wrapper(self, input, *args, **kwargs):
        xp = _namespace(input)
        if xp is None:
            return method(self, input, *args, **kwargs)
        device = _device(input)
        host = _to_numpy(input)
        names = method.__code__.co_varnames[2 : method.__code__.co_argcount]
        at = names.index("output") if "output" in names else None
        args = list(args)
        output = args[at] if at is not None and at < len(args) else kwargs.get("output")
        target = None
        if output is not None and _namespace(output) is not None:
            # Written in place when its memory is on the host and writable through numpy.
            target = output
            view = np.from_dlpack(output)
            if not view.flags.writeable:
                raise TypeError(f"blur3d cannot write into this {type(output).__name__} in place: pass output=None or a dtype")
            output = view
        elif output is not None and not isinstance(output, (str, type, np.dtype)):
            output = _numpy_dtype(xp, output)
        if at is not None and at < len(args):
            args[at] = output
        elif "output" in kwargs or output is not None:
            kwargs["output"] = output
        result = method(self, host, *args, **kwargs)
        return target if target is not None else _from_numpy(result, xp, device)

    return wrapper
