"""Makes the series samples of cli/tests/cli_data (4D NIfTI-2, an ImageJ hyperstack) and scipy's
results on them, volume by volume. Run from the repository root:
python3 cli/tests/cli_data/make_series_samples.py (needs numpy, scipy, nibabel, tifffile).

example_nifti2.nii.gz is nibabel's own test file (nibabel/tests/data, MIT licence), copied as it
is: a NIfTI-2 file written by another tool, 32 x 20 x 12 voxels x 2 volumes of int16, with an
extension."""

import os
import shutil

import numpy as np
import nibabel as nib
import tifffile
from scipy.ndimage import gaussian_filter

out = "cli/tests/cli_data/"

# NIfTI-2, 4D: blur3d's series axis is the first, NIfTI's t is the last.
src = os.path.join(os.path.dirname(nib.__file__), "tests", "data", "example_nifti2.nii.gz")
shutil.copyfile(src, out + "example_nifti2.nii.gz")
img = nib.load(out + "example_nifti2.nii.gz")
data = np.asarray(img.dataobj)  # x, y, z, t; int16, unscaled
series = np.moveaxis(data, 3, 0)
np.save(out + "example_nifti2_data.npy", np.ascontiguousarray(series))
np.save(out + "example_nifti2_sigma1-1-2_scipy.npy",
        np.stack([gaussian_filter(v.astype(np.float64), sigma=(1, 1, 2)) for v in series]))

# An ImageJ hyperstack: 3 frames x 4 slices x 2 channels of 6 x 5 uint16 pixels (ImageJ's order
# T, Z, C, Y, X). blur3d's series is frame-major: volume t * 2 + c holds (z, y, x).
rng = np.random.default_rng(12)
hyper = (rng.random((3, 4, 2, 6, 5)) * 1000).astype(np.uint16)
tifffile.imwrite(out + "hyperstack.tif", hyper, imagej=True, resolution=(2.0, 2.0),
                 metadata={"spacing": 1.5, "unit": "um", "axes": "TZCYX"})
volumes = np.ascontiguousarray(hyper.transpose(0, 2, 1, 3, 4).reshape(6, 4, 6, 5))
np.save(out + "hyperstack_volumes.npy", volumes)

# Big-endian NIfTI-1 with scaling (scl_slope 2, scl_inter -10), as older scanners write them:
# blur3d reads the scaled values, as nibabel's get_fdata does.
raw = (np.arange(4 * 5 * 6).reshape(4, 5, 6) * 37 % 1000).astype(">i2")
hdr = nib.Nifti1Header(endianness=">")
hdr.set_data_dtype(">i2")
img = nib.Nifti1Image(raw, np.diag([1.5, 1.5, 3.0, 1.0]), header=hdr)
nib.save(img, out + "big_endian_scaled.nii")
# (nibabel drops a scaling that int16 data do not need: set it in the file.)
with open(out + "big_endian_scaled.nii", "r+b") as f:
    f.seek(112)
    f.write(np.array([2.0, -10.0], dtype=">f4").tobytes())
np.save(out + "big_endian_scaled_values.npy",
        nib.load(out + "big_endian_scaled.nii").get_fdata().astype(np.float32))
