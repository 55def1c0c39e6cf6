"""blur3d's napari plugin: scipy's Gaussian filters on an image layer, on the GPU.

One dock widget (``napari.yaml``): the layer, the filter (Gaussian, a derivative of any order per
axis, Laplacian, gradient magnitude), sigma (a slider, or one value per axis) in the layer's world
units (its ``scale``) or in voxels, the mode, ``truncate``, and the adapter in use. The work runs
off the GUI thread (napari's ``thread_worker``) behind a busy bar; the result is a new layer with
the input's scale, translate and name plus a suffix. Layers of more dimensions than the filtered
ones (2-D + t, 3-D + t, channels) are filtered per leading index (scipy's ``axes=``).

The live preview follows the sigma slider: it filters the whole layer when that is small, and a
strided copy of it (every f-th voxel along each filtered axis, sigma divided by f, shown at f times
the scale) when it is larger than ``PREVIEW_VOXELS``, so that each step stays interactive.
"""

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSlider,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
)

from . import _filters

FILTERS = {
    "Gaussian": "gaussian_filter",
    "derivative (order per axis)": "gaussian_filter",
    "Laplacian": "gaussian_laplace",
    "gradient magnitude": "gaussian_gradient_magnitude",
}
SUFFIXES = {
    "gaussian_filter": "gaussian",
    "gaussian_laplace": "laplace",
    "gaussian_gradient_magnitude": "gradient magnitude",
}
MODES = ["reflect", "constant", "nearest", "mirror", "wrap"]
UNITS = ["world units (layer scale)", "voxels"]
# The preview filters at most this many voxels per step (a strided copy of larger layers).
PREVIEW_VOXELS = 1 << 22


def _numbers(text, kind=float):
    """``"1, 2, 2"`` or ``"2"`` as a tuple of numbers; ValueError with what to type otherwise."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return tuple(kind(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r}: type one number, or one per filtered axis, e.g. 1, 2, 2") from None


class GaussianWidget(Container):
    """The dock widget; ``napari_viewer`` is the viewer napari gives it."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._worker = None
        self._pending = False
        self.layer = ComboBox(label="image", choices=self._image_layers)
        self.filter = ComboBox(label="filter", choices=list(FILTERS), value="Gaussian")
        self.order = LineEdit(label="order per axis", value="0, 0, 1", visible=False)
        self.sigma = FloatSlider(label="sigma", min=0.0, max=20.0, step=0.1, value=2.0)
        self.per_axis = LineEdit(label="sigma per axis", value="")
        self.units = ComboBox(label="sigma in", choices=UNITS, value=UNITS[0])
        self.axes = ComboBox(label="filtered axes", choices=["last 3", "last 2"], value="last 3")
        self.mode = ComboBox(label="mode", choices=MODES, value="reflect")
        self.cval = FloatSpinBox(label="cval", value=0.0, min=-1e30, max=1e30, visible=False)
        self.truncate = FloatSpinBox(label="truncate", value=4.0, min=0.1, max=20.0, step=0.5)
        self.preview = CheckBox(label="live preview", value=False)
        self.run = PushButton(text="Run")
        self.busy = ProgressBar(label="", min=0, max=1, value=0, visible=False)
        self.status = Label(label="", value="")
        self.adapter = Label(label="adapter", value="(opened on first use)")
        self.extend([
            self.layer, self.filter, self.order, self.sigma, self.per_axis, self.units,
            self.axes, self.mode, self.cval, self.truncate, self.preview, self.run, self.busy,
            self.status, self.adapter,
        ])
        self.filter.changed.connect(self._filter_changed)
        self.mode.changed.connect(lambda v: setattr(self.cval, "visible", v == "constant"))
        self.layer.changed.connect(self._layer_changed)
        self.run.changed.connect(self.start)
        for w in (self.sigma, self.per_axis, self.units, self.axes, self.mode, self.cval,
                  self.truncate, self.filter, self.order, self.layer):
            w.changed.connect(self._preview_if_on)
        self.preview.changed.connect(self._preview_if_on)
        self.viewer.layers.events.inserted.connect(self._layers_changed)
        self.viewer.layers.events.removed.connect(self._layers_changed)
        self._layer_changed(self.layer.value)
        try:
            self.adapter.value = _filters.default().adapter
        except _filters.GpuError as e:
            self.adapter.value = f"none: {e}"

    # ---- what the widget asks for ----

    def _image_layers(self, _widget=None):
        from napari.layers import Image

        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _layers_changed(self, _event=None):
        self.layer.reset_choices()

    def _layer_changed(self, layer):
        if layer is not None:
            self.axes.value = "last 2" if layer.data.ndim == 2 else "last 3"

    def _filter_changed(self, value):
        self.order.visible = value == "derivative (order per axis)"

    def call(self, strided=1):
        """The filter's function and keyword arguments for the chosen layer (voxel sigmas; with
        `strided` f > 1, those of a copy strided by f along the filtered axes)."""
        layer = self.layer.value
        if layer is None:
            raise ValueError("no image layer: open or add one first")
        ndim = layer.data.ndim
        k = min(2 if self.axes.value == "last 2" else 3, ndim)
        sigma = _numbers(self.per_axis.value) if self.per_axis.value.strip() else (self.sigma.value,)
        if len(sigma) not in (1, k):
            raise ValueError(f"sigma per axis: {len(sigma)} values for {k} filtered axes")
        sigma = np.broadcast_to(np.asarray(sigma, float), (k,)).copy()
        if self.units.value == UNITS[0]:
            sigma /= np.abs(np.asarray(layer.scale, float)[-k:])
        sigma /= strided
        name = FILTERS[self.filter.value]
        kwargs = dict(sigma=tuple(sigma), mode=self.mode.value, truncate=self.truncate.value,
                      axes=tuple(range(ndim - k, ndim)))
        if self.mode.value == "constant":
            kwargs["cval"] = self.cval.value
        if self.filter.value == "derivative (order per axis)":
            order = _numbers(self.order.value, int)
            if len(order) not in (1, k):
                raise ValueError(f"order per axis: {len(order)} values for {k} filtered axes")
            kwargs["order"] = tuple(np.broadcast_to(order, (k,)).tolist())
            # Derivatives of integer images are signed and fractional.
            if not np.issubdtype(layer.data.dtype, np.floating):
                kwargs["output"] = np.float32
        return name, kwargs

    def suffix(self):
        name, kwargs = self.call()
        suffix = SUFFIXES[name]
        if "order" in kwargs:
            suffix = "derivative " + "".join(str(o) for o in kwargs["order"])
        sigma = ", ".join(f"{s:g}" for s in kwargs["sigma"])
        return f"{suffix} sigma {sigma}"

    # ---- running it ----

    def compute(self, strided=1):
        """The filtered layer data (what Run and the preview run, off the GUI thread)."""
        name, kwargs = self.call(strided)
        data = np.asarray(self.layer.value.data)
        k = len(kwargs["axes"])
        if strided > 1:
            data = data[(Ellipsis,) + (slice(None, None, strided),) * k]
        if data.dtype.kind in "iu" and name != "gaussian_filter" and "output" not in kwargs:
            kwargs["output"] = np.float32
        return getattr(_filters, name)(data, **kwargs)

    def start(self, _value=None):
        """Runs the filter off the GUI thread; adds the result as a new layer."""
        from napari.qt.threading import create_worker

        try:
            layer, suffix = self.layer.value, self.suffix()
        except ValueError as e:
            self.status.value = str(e)
            return None
        self._busy(True, f"running {suffix} ...")
        worker = create_worker(self.compute)
        worker.returned.connect(lambda data: self._add(layer, data, suffix))
        worker.errored.connect(lambda e: self._busy(False, f"failed: {e}"))
        worker.start()
        return worker

    def _add(self, layer, data, suffix):
        self._busy(False, f"done: {layer.name} {suffix}")
        self.viewer.add_image(
            data,
            name=f"{layer.name} {suffix}",
            scale=layer.scale,
            translate=layer.translate,
            colormap=layer.colormap.name,
            blending=layer.blending,
        )

    def _busy(self, on, message):
        self.busy.visible = on
        # min == max: an indeterminate (busy) bar.
        self.busy.max = 0 if on else 1
        self.run.enabled = not on
        self.status.value = message

    def preview_stride(self):
        """The stride of the preview: 1, or the f that brings the layer under PREVIEW_VOXELS."""
        size = self.layer.value.data.size if self.layer.value is not None else 0
        f = 1
        while size / f ** 3 > PREVIEW_VOXELS:
            f += 1
        return f

    def _preview_if_on(self, _value=None):
        if not self.preview.value or self.layer.value is None:
            return
        if self._worker is not None:
            # One preview at a time; the latest settings run when it is done.
            self._pending = True
            return
        self._start_preview()

    def _start_preview(self):
        from napari.qt.threading import create_worker

        self._pending = False
        layer, f = self.layer.value, self.preview_stride()
        try:
            self.call(f)
        except ValueError as e:
            self.status.value = str(e)
            return
        self._worker = create_worker(self.compute, f)
        self._worker.returned.connect(lambda data: self._show_preview(layer, data, f))
        self._worker.errored.connect(lambda e: setattr(self.status, "value", f"failed: {e}"))
        self._worker.finished.connect(self._preview_done)
        self._worker.start()

    def _show_preview(self, layer, data, f):
        name = f"{layer.name} preview"
        k = min(len(self.call(f)[1]["axes"]), layer.data.ndim)
        scale = np.asarray(layer.scale, float)
        scale[-k:] *= f
        if name in self.viewer.layers:
            preview = self.viewer.layers[name]
            preview.data, preview.scale, preview.translate = data, scale, layer.translate
        else:
            self.viewer.add_image(data, name=name, scale=scale, translate=layer.translate,
                                  colormap=layer.colormap.name)
        self.status.value = "preview" + (f" (every {f}th voxel)" if f > 1 else "")

    def _preview_done(self):
        self._worker = None
        if self._pending:
            self._start_preview()
