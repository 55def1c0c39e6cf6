"""The napari plugin, driven through its widgets in a real viewer (napari's `make_napari_viewer`
fixture, under Xvfb with Mesa's GL in CI), its layers compared with scipy's."""

import numpy as np
import pytest
from scipy import ndimage

import blur3d
from blur3d._napari import GaussianWidget


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = GaussianWidget(viewer)
    viewer.window.add_dock_widget(widget.native, name="blur3d")
    return viewer, widget


def run(qtbot, widget):
    """Presses Run and waits for the result layer."""
    before = len(widget.viewer.layers)
    widget.run.changed.emit(True)
    qtbot.waitUntil(lambda: len(widget.viewer.layers) > before, timeout=60_000)
    return widget.viewer.layers[-1]


def test_the_manifest_names_the_widget():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("blur3d")
    (widget,) = manifest.contributions.widgets
    command = next(c for c in manifest.contributions.commands if c.id == widget.command)
    assert command.python_name == "blur3d._napari:GaussianWidget"


def test_gaussian_in_world_units_keeps_scale_translate_and_name(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    rng = np.random.default_rng(0)
    data = rng.random((12, 20, 24), dtype=np.float32)
    layer = viewer.add_image(data, name="cells", scale=(2.0, 0.5, 0.5), translate=(1, 2, 3))
    widget.layer.value = layer
    widget.sigma.value = 1.0
    assert widget.units.value.startswith("world")
    out = run(qtbot, widget)
    # 1 world unit: 0.5 voxel along axis 0 (scale 2), 2 voxels along the others (scale 0.5).
    want = ndimage.gaussian_filter(data, (0.5, 2.0, 2.0))
    np.testing.assert_allclose(out.data, want, atol=1e-5)
    assert out.name == "cells gaussian sigma 0.5, 2, 2"
    np.testing.assert_array_equal(out.scale, layer.scale)
    np.testing.assert_array_equal(out.translate, layer.translate)
    assert "none" not in widget.adapter.value


def test_every_filter_mode_and_voxel_sigmas_match_scipy(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    data = np.random.default_rng(1).random((10, 11, 12)) * 100
    widget.layer.value = viewer.add_image(data, name="ct")
    widget.units.value = "voxels"
    widget.per_axis.value = "1, 1.5, 2"
    widget.truncate.value = 3.0
    cases = [
        ("Gaussian", "nearest", ndimage.gaussian_filter, {}),
        ("Laplacian", "wrap", ndimage.gaussian_laplace, {}),
        ("gradient magnitude", "mirror", ndimage.gaussian_gradient_magnitude, {}),
        ("derivative (order per axis)", "constant", ndimage.gaussian_filter, {"order": (0, 1, 2)}),
    ]
    for name, mode, scipy_filter, extra in cases:
        widget.filter.value = name
        widget.mode.value = mode
        widget.order.value = "0, 1, 2"
        if mode == "constant":
            widget.cval.value = 5.0
            extra = dict(extra, cval=5.0)
        out = run(qtbot, widget)
        want = scipy_filter(data, (1, 1.5, 2), mode=mode, truncate=3.0, **extra)
        # float64 is computed in f64.
        np.testing.assert_allclose(out.data, want, rtol=0, atol=1e-9 * np.abs(data).max())


def test_time_series_are_filtered_per_time_point(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    rng = np.random.default_rng(2)
    for shape, axes in [((4, 8, 9, 10), "last 3"), ((5, 16, 18), "last 2")]:
        data = rng.random(shape, dtype=np.float32)
        widget.layer.value = viewer.add_image(data, name=f"t{len(shape)}")
        assert widget.axes.value == "last 3"
        widget.axes.value = axes
        widget.units.value = "voxels"
        widget.sigma.value = 1.5
        out = run(qtbot, widget)
        k = 3 if axes == "last 3" else 2
        want = ndimage.gaussian_filter(data, 1.5, axes=tuple(range(len(shape) - k, len(shape))))
        np.testing.assert_allclose(out.data, want, atol=1e-5)
        # Each time point alone is the same filter.
        np.testing.assert_allclose(out.data[1], ndimage.gaussian_filter(data[1], 1.5), atol=1e-5)


def test_live_preview_follows_the_slider_and_strides_large_layers(qtbot, viewer_and_widget, monkeypatch):
    viewer, widget = viewer_and_widget
    data = np.random.default_rng(3).random((32, 32, 32), dtype=np.float32)
    widget.layer.value = viewer.add_image(data, name="vol")
    widget.units.value = "voxels"
    widget.preview.value = True
    for sigma in (1.0, 2.5):
        widget.sigma.value = sigma
        qtbot.waitUntil(lambda: widget._worker is None and "vol preview" in viewer.layers, timeout=60_000)
        qtbot.waitUntil(lambda: widget._worker is None and not widget._pending, timeout=60_000)
    preview = viewer.layers["vol preview"]
    np.testing.assert_allclose(preview.data, ndimage.gaussian_filter(data, 2.5), atol=1e-5)
    # A layer over the preview's budget is previewed strided, at the scale that keeps its place.
    monkeypatch.setattr("blur3d._napari.PREVIEW_VOXELS", 32**3 // 8)
    assert widget.preview_stride() == 2
    widget.sigma.value = 3.0
    qtbot.waitUntil(lambda: widget._worker is None and not widget._pending
                    and viewer.layers["vol preview"].data.shape == (16, 16, 16), timeout=60_000)
    preview = viewer.layers["vol preview"]
    np.testing.assert_allclose(preview.data, ndimage.gaussian_filter(data[::2, ::2, ::2], 1.5), atol=1e-5)
    np.testing.assert_array_equal(preview.scale, (2, 2, 2))


def test_bad_input_says_what_to_type(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    widget.layer.value = viewer.add_image(np.zeros((4, 5, 6), np.float32), name="z")
    widget.per_axis.value = "1, x"
    before = len(viewer.layers)
    assert widget.start() is None
    assert "type one number, or one per filtered axis" in widget.status.value
    widget.per_axis.value = "1, 2"
    assert widget.start() is None
    assert "2 values for 3 filtered axes" in widget.status.value
    assert len(viewer.layers) == before
