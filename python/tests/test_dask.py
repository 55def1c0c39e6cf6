"""blur3d.dask against scipy on the whole array: threaded scheduler and a LocalCluster of worker
processes, every mode, chunks smaller than the overlap. The tests filter the chunks as they are
(``BLOCK_BYTES = 0``), which exercises the overlaps; `test_chunks_merge_into_blocks` checks the
merging the functions do by default."""

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from conftest import assert_integers_match, check, random_array
from scipy import ndimage

import blur3d
import blur3d.dask

MODES = ["reflect", "mirror", "nearest", "wrap", "constant"]


@pytest.fixture(autouse=True)
def chunks_as_they_are(monkeypatch):
    monkeypatch.setattr(blur3d.dask, "BLOCK_BYTES", 0)


def assert_lazy_and_typed(result, dtype):
    """dask knows the result's dtype and meta without running anything."""
    assert isinstance(result, da.Array)
    assert result.dtype == np.dtype(dtype)
    assert type(result._meta) is np.ndarray and result._meta.dtype == np.dtype(dtype)


def test_the_gpu_runs_only_on_compute(rng, monkeypatch):
    calls = []
    for name in ["gaussian_filter", "gaussian_filter1d", "gaussian_laplace", "gaussian_gradient_magnitude"]:

        def counted(self, input, *args, _method=getattr(blur3d.Blur, name), **kwargs):
            calls.append(np.shape(input))
            return _method(self, input, *args, **kwargs)

        monkeypatch.setattr(blur3d.Blur, name, counted)
    d = da.from_array(random_array(rng, (12, 13, 14), "float32"), chunks=5)
    lazy = [
        blur3d.dask.gaussian_filter(d, 1.0),
        blur3d.dask.gaussian_laplace(d, 1.0, dtype=np.float64),
        blur3d.dask.gaussian_gradient_magnitude(d, 1.0, mode="wrap"),
        blur3d.dask.gaussian_filter1d(d, 1.0, axis=0, dtype=np.int16),
    ]
    for result in lazy:
        assert_lazy_and_typed(result, result.dtype)
    assert calls == [], f"dask called the filters on {calls} while building the graph"
    lazy[0].compute(scheduler="threads")
    assert calls and all(0 not in shape for shape in calls)


@pytest.mark.parametrize("mode", MODES)
def test_threaded_every_mode_small_chunks(rng, mode):
    a = random_array(rng, (23, 19, 29), "float32")
    # Radii 4, 8 and 6: chunks of 3 and 5 voxels are smaller than the overlap.
    d = da.from_array(a, chunks=(3, 5, 7))
    kw = dict(sigma=(1.0, 2.0, 1.5), mode=mode, cval=2.5)
    result = blur3d.dask.gaussian_filter(d, **kw)
    assert_lazy_and_typed(result, np.float32)
    with dask.config.set(scheduler="threads"):
        got = result.compute()
    check(got, ndimage.gaussian_filter(a, **kw), a)


def test_threaded_per_axis_modes_and_short_axes(rng):
    a = random_array(rng, (6, 40, 33), "float64")
    d = da.from_array(a, chunks=(2, 9, 8))
    # Axis 0 (6 voxels) is shorter than its radius: it becomes one chunk.
    for kw in [
        dict(sigma=(3.0, 1.0, 2.0), mode=("wrap", "mirror", "wrap")),
        dict(sigma=2.0, mode=("constant", "wrap", "nearest"), cval=-1.0, radius=(1, 5, 2)),
        dict(sigma=(2.0, 3.0), axes=(2, 1), mode="wrap", truncate=2.0),
    ]:
        got = blur3d.dask.gaussian_filter(d, **kw).compute(scheduler="threads")
        check(got, ndimage.gaussian_filter(a, **kw), a)


def test_threaded_integers_1d_and_4d(rng):
    a = random_array(rng, (20, 21, 22), "uint16")
    d = da.from_array(a, chunks=6)
    got = blur3d.dask.gaussian_filter(d, 1.5, mode="wrap").compute(scheduler="threads")
    check(got, ndimage.gaussian_filter(a, 1.5, mode="wrap"), a)
    got = blur3d.dask.gaussian_filter(d, 1.5, dtype=np.float32).compute(scheduler="threads")
    check(got, ndimage.gaussian_filter(a, 1.5, output=np.float32), a)
    got = blur3d.dask.gaussian_filter1d(d, 2.5, axis=1, mode="mirror").compute(scheduler="threads")
    check(got, ndimage.gaussian_filter1d(a, 2.5, axis=1, mode="mirror"), a)
    t = random_array(rng, (3, 10, 12, 14), "float32")
    dt = da.from_array(t, chunks=(1, 4, 5, 6))
    got = blur3d.dask.gaussian_filter(dt, 1.2, axes=(1, 2, 3), mode="wrap").compute(scheduler="threads")
    check(got, ndimage.gaussian_filter(t, 1.2, axes=(1, 2, 3), mode="wrap"), t)


@pytest.mark.parametrize("mode", MODES)
def test_threaded_orders_laplace_and_gradient_magnitude(rng, mode):
    a = random_array(rng, (17, 19, 21), "float32")
    d = da.from_array(a, chunks=(4, 6, 5))
    kw = dict(sigma=(1.5, 1.0, 2.0), mode=mode, cval=1.0)
    got = blur3d.dask.gaussian_filter(d, order=(1, 0, 2), **kw).compute(scheduler="threads")
    check(got, ndimage.gaussian_filter(a, order=(1, 0, 2), **kw), a)
    for name in ["gaussian_laplace", "gaussian_gradient_magnitude"]:
        result = getattr(blur3d.dask, name)(d, **kw)
        assert_lazy_and_typed(result, np.float32)
        check(result.compute(scheduler="threads"), getattr(ndimage, name)(a, **kw), a)


def test_threaded_laplace_with_per_axis_modes(rng):
    # Term i uses mode i on every axis: wrap on some terms and not others makes those axes one
    # chunk; the result still equals scipy's.
    a = random_array(rng, (16, 18, 20), "float64")
    d = da.from_array(a, chunks=(5, 6, 7))
    for name in ["gaussian_laplace", "gaussian_gradient_magnitude"]:
        for kw in [
            dict(sigma=1.5, mode=("wrap", "reflect", "constant"), cval=2.0),
            dict(sigma=1.0, mode=("mirror", "nearest", "reflect"), truncate=3.0),
            dict(sigma=(2.0, 1.0), axes=(0, 2), mode="wrap"),
            # scipy's gradient magnitude smooths axis 1 too, with the same overlap.
            dict(sigma=1.5, axes=(0, 2), mode=("wrap", "mirror")),
        ]:
            try:
                want = getattr(ndimage, name)(a, **kw)
            except RuntimeError:  # scipy's gradient magnitude takes one sigma per input axis
                continue
            got = getattr(blur3d.dask, name)(d, **kw).compute(scheduler="threads")
            check(got, want, a)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    client.register_plugin(blur3d.dask.AdapterPerWorker())
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("mode", MODES)
def test_local_cluster_every_mode(client, rng, mode):
    a = random_array(rng, (26, 24, 30), "float32")
    d = da.from_array(a, chunks=(5, 7, 9))
    kw = dict(sigma=(2.0, 1.0, 1.5), mode=mode, cval=-3.0)
    got = client.compute(blur3d.dask.gaussian_filter(d, **kw)).result()
    check(got, ndimage.gaussian_filter(a, **kw), a)
    got = client.compute(blur3d.dask.gaussian_laplace(d, **kw)).result()
    check(got, ndimage.gaussian_laplace(a, **kw), a)


def test_local_cluster_devices_are_the_workers_own(client):
    # Every worker process made its device on the adapter the plugin chose, not the client's.
    listed = blur3d.adapters()

    def adapter_of(dask_worker):
        import os

        return dask_worker.name, os.getpid(), blur3d.default().adapter

    seen = client.run(adapter_of)
    assert len(seen) == 2
    assert len({pid for _, pid, _ in seen.values()}) == 2
    for name, _, adapter in seen.values():
        assert adapter.startswith(listed[int(name) % len(listed)][0] + " (")


def test_per_axis_sigma_with_axes(rng):
    # scipy's gaussian_gradient_magnitude takes one sigma per axis of the input (the axes left
    # out of `axes` are smoothed too); gaussian_laplace one per axis in `axes`.
    a = random_array(rng, (12, 13, 14), "float32")
    d = da.from_array(a, chunks=4)
    ours = blur3d.dask.gaussian_gradient_magnitude(d, [1, 2, 1], axes=(0, 2)).compute(scheduler="threads")
    check(ours, ndimage.gaussian_gradient_magnitude(a, [1, 2, 1], axes=(0, 2)), a)
    ours = blur3d.dask.gaussian_laplace(d, [1, 2], axes=(0, 2), radius=[3, 2, 5]).compute(scheduler="threads")
    check(ours, ndimage.gaussian_laplace(a, [1, 2], axes=(0, 2), radius=[3, 2, 5]), a)
    with pytest.raises(RuntimeError, match="input rank") as ours_error:
        blur3d.dask.gaussian_gradient_magnitude(d, [1, 2], axes=(0, 2)).compute(scheduler="threads")
    with pytest.raises(RuntimeError, match="input rank") as theirs_error:
        ndimage.gaussian_gradient_magnitude(a, [1, 2], axes=(0, 2))
    assert str(ours_error.value) == str(theirs_error.value)


def test_chunks_merge_into_blocks(rng):
    # By default chunks merge into blocks of whole chunks, the last axes first, and the result
    # comes back in the input's chunks, equal to scipy's.
    a = random_array(rng, (48, 40, 36), "float32")
    d = da.from_array(a, chunks=(16, 10, 12))
    plane = 40 * 36 * 4
    assert blur3d.dask._merged(d, 16 * plane).chunks == ((16, 16, 16), (40,), (36,))
    assert blur3d.dask._merged(d, 16 * 20 * 36 * 4).chunks == ((16,) * 3, (20, 20), (36,))
    assert blur3d.dask._merged(d, 64 << 20).numblocks == (1, 1, 1)
    # Never smaller than a chunk.
    assert blur3d.dask._merged(d, 1).chunks == d.chunks
    for block_bytes in [None, 16 * plane, 16 * 20 * 36 * 4]:
        for mode in ["wrap", "nearest"]:
            kw = dict(sigma=(1.5, 1.0, 2.0), mode=mode)
            result = blur3d.dask.gaussian_filter(d, block_bytes=block_bytes, **kw)
            assert result.chunks == d.chunks
            check(result.compute(scheduler="threads"), ndimage.gaussian_filter(a, **kw), a)
        result = blur3d.dask.gaussian_laplace(d, 1.5, block_bytes=block_bytes)
        assert result.chunks == d.chunks
        check(result.compute(scheduler="threads"), ndimage.gaussian_laplace(a, 1.5), a)
