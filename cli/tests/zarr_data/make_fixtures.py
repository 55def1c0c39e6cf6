"""Writes the Zarr fixtures of cli/tests/zarr.rs with zarr-python (3.x) and numpy, and scipy's
results on them.

Run from this folder: python make_fixtures.py (everything), or python make_fixtures.py --scipy
(only scipy's results, from the .npy already here). The Rust tests need only the files it
writes. Each volume is (20, 17, 13) in chunks of (6, 5, 4), so that every blur crosses chunk
borders on every axis, and the same values are written as .npy beside it for the in-memory
result.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec
import numcodecs

HERE = Path(__file__).parent
SHAPE = (20, 17, 13)
CHUNKS = (6, 5, 4)


def volume(dtype):
    rng = np.random.default_rng(13)
    v = rng.integers(0, 1000, SHAPE).astype(np.float64)
    v[5:9, 4:11, 3:8] += 3000  # a block across chunk borders
    return v.astype(dtype)


def fresh(name):
    p = HERE / name
    if p.exists():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return p


def main():
    u16 = volume(np.uint16)
    f32 = volume(np.float32) / 7
    np.save(fresh("u16.npy"), u16)
    np.save(fresh("f32.npy"), f32)

    # Zarr v2, blosc (zstd inside), attributes kept.
    a = zarr.create_array(store=str(fresh("v2_blosc_u16.zarr")), shape=SHAPE, chunks=CHUNKS,
                          dtype="uint16", zarr_format=2,
                          compressors=numcodecs.Blosc(cname="zstd", clevel=3, shuffle=2))
    a[:] = u16
    a.attrs["note"] = "kept"

    # Zarr v2, gzip, float32.
    a = zarr.create_array(store=str(fresh("v2_gzip_f32.zarr")), shape=SHAPE, chunks=CHUNKS,
                          dtype="float32", zarr_format=2, compressors=numcodecs.GZip(level=5))
    a[:] = f32

    # Zarr v3, zstd, dimension names, attributes.
    a = zarr.create_array(store=str(fresh("v3_zstd_u16.zarr")), shape=SHAPE, chunks=CHUNKS,
                          dtype="uint16", zarr_format=3, compressors=ZstdCodec(level=3),
                          dimension_names=["z", "y", "x"])
    a[:] = u16
    a.attrs["note"] = "kept"

    # Zarr v3, blosc, float32.
    a = zarr.create_array(store=str(fresh("v3_blosc_f32.zarr")), shape=SHAPE, chunks=CHUNKS,
                          dtype="float32", zarr_format=3,
                          compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"))
    a[:] = f32

    # Zarr v3, gzip, sharded (shards of 2 x 2 x 2 chunks).
    a = zarr.create_array(store=str(fresh("v3_sharded_u16.zarr")), shape=SHAPE, chunks=CHUNKS,
                          shards=(12, 10, 8), dtype="uint16", zarr_format=3,
                          compressors=GzipCodec(level=5))
    a[:] = u16

    # A longer volume in thin chunk rows, for the bounded-memory test: 64 planes, rows of 4.
    rng = np.random.default_rng(64)
    long = rng.integers(0, 4000, (64, 24, 24)).astype(np.uint16)
    np.save(fresh("long_u16.npy"), long)
    a = zarr.create_array(store=str(fresh("long_u16.zarr")), shape=long.shape, chunks=(4, 24, 24),
                          dtype="uint16", zarr_format=3, compressors=ZstdCodec(level=1))
    a[:] = long

    # OME-Zarr 0.4 on Zarr v2 and 0.5 on Zarr v3: (z, y, x) in micrometres, two levels.
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    for fmt, name, version in [(2, "ome04.ome.zarr", "0.4"), (3, "ome05.ome.zarr", "0.5")]:
        g = zarr.open_group(str(fresh(name)), mode="w", zarr_format=fmt)
        ms = {
            "axes": axes,
            "datasets": [
                {"path": "0", "coordinateTransformations":
                    [{"type": "scale", "scale": [2.0, 0.5, 0.5]}]},
                {"path": "1", "coordinateTransformations":
                    [{"type": "scale", "scale": [4.0, 1.0, 1.0]}]},
            ],
            "name": "fixture",
        }
        if version == "0.4":
            ms["version"] = "0.4"
            g.attrs.update({"multiscales": [ms]})
        else:
            g.attrs.update({"ome": {"version": "0.5", "multiscales": [ms]}})
        comp = numcodecs.Blosc(cname="lz4", clevel=5) if fmt == 2 else ZstdCodec(level=3)
        for path, data in [("0", u16), ("1", u16[::2, ::2, ::2])]:
            kw = {"dimension_names": list("zyx")} if fmt == 3 else {}
            a = g.create_array(path, shape=data.shape, chunks=CHUNKS, dtype="uint16",
                               compressors=comp, **kw)
            a[:] = data


def scipy_results():
    """scipy.ndimage.gaussian_filter (float64) on the fixtures' values, as float64 .npy: what
    the Zarr runs in zarr.rs are compared with. The names say the sigma (in voxels, per axis)
    and the mode."""
    from scipy.ndimage import gaussian_filter

    u16 = np.load(HERE / "u16.npy").astype(np.float64)
    f32 = np.load(HERE / "f32.npy").astype(np.float64)
    # v3_zstd_u16.zarr and v2_blosc_u16.zarr: --sigma 2,1.5,2.5 (reflect).
    np.save(fresh("u16_sigma2-1.5-2.5_reflect_scipy.npy"),
            gaussian_filter(u16, sigma=(2, 1.5, 2.5), mode="reflect"))
    # ome04/ome05: --sigma 1um --mode nearest through the scale (2, 0.5, 0.5) um.
    np.save(fresh("u16_sigma0.5-2-2_nearest_scipy.npy"),
            gaussian_filter(u16, sigma=(0.5, 2, 2), mode="nearest"))
    # v2_gzip_f32.zarr: --sigma 1.2 --mode wrap.
    np.save(fresh("f32_sigma1.2_wrap_scipy.npy"), gaussian_filter(f32, sigma=1.2, mode="wrap"))


if __name__ == "__main__":
    if sys.argv[1:] != ["--scipy"]:
        main()
    scipy_results()
