"""The napari plugin's screenshot in the docs (`docs/napari_widget.png`): a viewer with a sample
volume (noisy blobs), the blur3d dock widget, and its Gaussian result beside the input.

    xvfb-run -a python python/examples/napari_screenshot.py docs/napari_widget.png

Needs the package installed with napari (`pip install blur3d[napari]` and a Qt binding).
"""

import sys

import napari
import numpy as np
from qtpy.QtWidgets import QApplication
from scipy import ndimage

from blur3d._napari import GaussianWidget


def sample(shape=(48, 128, 128), seed=0):
    """Noisy blobs: random points blurred into cells, plus shot noise."""
    rng = np.random.default_rng(seed)
    points = np.zeros(shape, np.float32)
    idx = tuple(rng.integers(0, n, 60) for n in shape)
    points[idx] = 1.0
    cells = ndimage.gaussian_filter(points, (2, 5, 5))
    cells /= cells.max()
    return (cells + rng.normal(0, 0.25, shape)).astype(np.float32)


def main(path):
    viewer = napari.Viewer(show=True)
    data = sample()
    layer = viewer.add_image(data, name="blobs", scale=(2.0, 0.5, 0.5), colormap="gray")
    widget = GaussianWidget(viewer)
    viewer.window.add_dock_widget(widget.native, name="blur3d: Gaussian filters", area="right")
    widget.layer.value = layer
    widget.sigma.value = 1.5
    worker = widget.start()
    app = QApplication.instance()
    while worker.is_running or len(viewer.layers) < 2:
        app.processEvents()
    # The input and the result side by side.
    viewer.grid.enabled = True
    viewer.dims.current_step = (48, 32, 32)
    viewer.reset_view()
    for _ in range(20):
        app.processEvents()
    viewer.screenshot(path, canvas_only=False)
    print(f"wrote {path}")
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "napari_widget.png")
