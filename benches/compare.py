#!/usr/bin/env python3
"""blur3d beside the tools its users have: scipy.ndimage.gaussian_filter and PyTorch.

Times, in one run on one machine, end to end and warm:
  - blur3d: the Python package's blur3d.gaussian_filter(vol, sigma, mode='reflect'), numpy in,
    numpy out (upload, three passes, readback); install it first with `pip install ./python`.
    With --rust, also the library alone (GpuBlur::blur via `cargo run --release --example
    time_blur`), to show what the Python layer costs;
  - scipy.ndimage.gaussian_filter(vol, sigma, mode='reflect') on float32 (one thread, as scipy runs);
  - PyTorch on the CPU, when installed: three 1D conv3d passes with the same sampled kernel, the
    way people write it by hand (padding 'replicate' stands in for scipy's reflect: PyTorch has
    no half-sample symmetric padding; the cost is the same);
  - on a CUDA machine, when importable: cupy's cupyx.scipy.ndimage.gaussian_filter and the same
    PyTorch blur on the GPU, end to end (numpy in, numpy out) and device-resident (data already
    on the GPU: K runs between synchronisations, divided by K). blur3d's own device-resident
    figures come from `cargo run --release --example gpu_bench`;
and prints a markdown table of medians and ratios (how many times faster blur3d is). Then a dask
table: a SIZE^3 volume in CHUNK^3 chunks (`--dask 192:64`; `--dask ''` for none), blur3d.dask
beside dask-image's ndfilters.gaussian_filter (when installed), same chunks, dask's threaded
scheduler, modes nearest and wrap, each with its largest error against scipy on the whole volume.

    python3 benches/compare.py [--sizes 64,128,256] [--sigmas 1,2,4,8] [--rust] [--dask 192:64]

The volume is ((i0*31 + i1*17 + i2*7) % 101) / 101, as in the criterion bench. The blur3d rows
run on whatever adapter wgpu picks: set WGPU_BACKEND / WGPU_ADAPTER_NAME to choose.
"""
import argparse
import json
import math
import os
import pathlib
import platform
import subprocess
import time

import numpy as np
import scipy
from scipy import ndimage

ROOT = pathlib.Path(__file__).resolve().parent.parent


def volume(n):
    i0, i1, i2 = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    return (((i0 * 31 + i1 * 17 + i2 * 7) % 101) / 101).astype(np.float32)


def median_time(fn, reps):
    fn()  # warm
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def torch_blur(torch, vol, sigma):
    """Three 1D passes with conv3d: the hand-written PyTorch Gaussian."""
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=vol.device)
    k = torch.exp(-0.5 * x * x / (sigma * sigma))
    k = (k / k.sum()).to(torch.float32)
    out = vol[None, None]
    for shape in [(-1, 1, 1), (1, -1, 1), (1, 1, -1)]:
        pad = [0] * 6
        axis = shape.index(-1)  # conv3d's pad order is (last axis first)
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
        out = torch.nn.functional.pad(out, pad, mode="replicate")
        out = torch.nn.functional.conv3d(out, k.reshape(1, 1, *shape))
    return out[0, 0]


def device_time(fn, sync, k):
    """Time per run of `fn` on a GPU: k runs between synchronisations, median of 5."""
    fn()
    sync()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(k):
            fn()
        sync()
        times.append((time.perf_counter() - t) / k)
    return sorted(times)[2]


def cuda_peers(torch):
    """cupy and PyTorch on a CUDA GPU, when importable and a GPU is there."""
    peers = {}
    try:
        import cupy
        from cupyx.scipy import ndimage as cnd

        if cupy.cuda.runtime.getDeviceCount() > 0:
            peers["cupy"] = (cupy.asarray, lambda a: a.get(), cnd.gaussian_filter,
                             cupy.cuda.Device().synchronize)
    except Exception:  # not installed, or no CUDA device
        pass
    if torch is not None and torch.cuda.is_available():
        peers["torch CUDA"] = (lambda a: torch.from_numpy(a).cuda(), lambda t: t.cpu().numpy(),
                               lambda t, s, mode: torch_blur(torch, t, s), torch.cuda.synchronize)
    return peers


def rust_times(sizes, sigmas):
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "time_blur", "--",
           ",".join(map(str, sizes)), ",".join(map(str, sigmas))]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    header = rows[0]
    times = {(r["size"], r["sigma"]): r["median_s"] for r in rows[1:]}
    return header, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--sigmas", default="1,2,4,8")
    ap.add_argument("--rust", action="store_true", help="also time the Rust library alone")
    ap.add_argument("--dask", default="192:64", help="the dask table's SIZE:CHUNK ('' for none)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sigmas = [float(s) for s in args.sigmas.split(",")]

    try:
        import torch
        torch.set_num_threads(os.cpu_count())
    except ImportError:
        torch = None

    import blur3d

    start = time.perf_counter()
    blur = blur3d.Blur()
    blur.gaussian_filter(volume(32), 1.0)
    first_call = time.perf_counter() - start
    rust = rust_times(sizes, sigmas)[1] if args.rust else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"scipy {scipy.__version__}" + (f", torch {torch.__version__}" if torch else ", torch not installed"))
    print(f"blur3d adapter: {blur.adapter}; "
          f"first call (adapter, device, pipelines, one blur): {first_call:.3f} s\n")
    peers = cuda_peers(torch)
    cols = ["volume", "sigma", "blur3d", "scipy", "scipy / blur3d"]
    if rust:
        cols += ["blur3d Rust API"]
    if torch:
        cols += ["PyTorch CPU", "PyTorch / blur3d"]
    for name in peers:
        cols += [f"{name} end to end", f"{name} / blur3d", f"{name} resident"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for n in sizes:
        vol = volume(n)
        reps = 5 if n <= 128 else 3
        tvol = torch.from_numpy(vol) if torch else None
        for sigma in sigmas:
            g = median_time(lambda: blur.gaussian_filter(vol, sigma, mode="reflect"), reps)
            s = median_time(lambda: ndimage.gaussian_filter(vol, sigma, mode="reflect"), reps)
            row = [f"{n}^3", f"{sigma:g}", f"{g * 1e3:.1f} ms", f"{s * 1e3:.1f} ms", f"{s / g:.2f}x"]
            if rust:
                row += [f"{rust[(n, sigma)] * 1e3:.1f} ms"]
            if torch:
                with torch.no_grad():
                    t = median_time(lambda: torch_blur(torch, tvol, sigma), reps)
                row += [f"{t * 1e3:.1f} ms", f"{t / g:.2f}x"]
            for to_device, to_host, blur_on, sync in peers.values():
                e2e = median_time(lambda: to_host(blur_on(to_device(vol), sigma, mode="reflect")), reps)
                on_device = to_device(vol)
                k = 40 if n <= 128 else 20 if n <= 256 else 10
                resident = device_time(lambda: blur_on(on_device, sigma, mode="reflect"), sync, k)
                row += [f"{e2e * 1e3:.1f} ms", f"{e2e / g:.2f}x", f"{resident * 1e3:.3f} ms"]
            print("| " + " | ".join(row) + " |", flush=True)
    if args.dask:
        size, chunk = (int(v) for v in args.dask.split(":"))
        dask_table(size, chunk, sigmas)


def dask_table(size, chunk, sigmas):
    """blur3d.dask beside dask-image on one chunked volume, with each one's error."""
    import dask
    import dask.array as da

    import blur3d.dask

    try:
        from dask_image import ndfilters
    except ImportError:
        ndfilters = None
    vol = volume(size)
    d = da.from_array(vol, chunks=chunk)
    print(f"\ndask {dask.__version__}, {size}^3 in {chunk}^3 chunks, threaded scheduler"
          + ("" if ndfilters else "; dask-image not installed"))
    cols = ["sigma", "mode", "blur3d.dask", "error"]
    if ndfilters:
        cols += ["dask-image", "error", "dask-image / blur3d.dask"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for sigma in sigmas:
        for mode in ["nearest", "wrap"]:
            ref = ndimage.gaussian_filter(vol, sigma, mode=mode)
            runs = [blur3d.dask.gaussian_filter]
            if ndfilters:
                runs.append(ndfilters.gaussian_filter)
            row = [f"{sigma:g}", mode]
            times = []
            for f in runs:
                run = lambda: f(d, sigma, mode=mode).compute(scheduler="threads")
                times.append(median_time(run, 3))
                err = float(np.abs(run() - ref).max())
                row += [f"{times[-1] * 1e3:.0f} ms", f"{err:.1e}"]
            if ndfilters:
                row += [f"{times[1] / times[0]:.2f}x"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
