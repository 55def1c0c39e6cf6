"""Makes the sample files of cli/tests/cli_data with the tools blur3d's users have (numpy, nibabel,
tifffile) and scipy's results on them, so that tests/cli.rs checks blur3d against files it did
not write itself. Run from the repository root: python3 cli/tests/cli_data/make_samples.py
(needs numpy, scipy, nibabel, tifffile; the tests themselves need none of them)."""

import numpy as np
import nibabel as nib
import tifffile
from scipy.ndimage import gaussian_filter

out = "cli/tests/cli_data/"
rng = np.random.default_rng(2024)

# NIfTI: int16, 8 x 9 x 10 voxels (x, y, z) of 1 x 1 x 3 mm, an oblique affine.
head = (rng.random((8, 9, 10)) * 2000 - 500).astype(np.int16)
affine = np.array([[0, 0, 3.0, -12], [-1.0, 0, 0, 20], [0, 1.0, 0, -7], [0, 0, 0, 1]])
img = nib.Nifti1Image(head, affine)
img.header.set_zooms((1.0, 1.0, 3.0))
img.header.set_xyzt_units("mm", "sec")
img.header["descrip"] = b"blur3d sample head"
img.set_qform(affine, code=1)
img.set_sform(affine, code=1)
nib.save(img, out + "head.nii.gz")
# --sigma 1.5mm is (1.5, 1.5, 0.5) voxels along (x, y, z).
np.save(out + "head_sigma1.5mm_scipy.npy",
        gaussian_filter(head.astype(np.float64), sigma=(1.5, 1.5, 0.5)))

# TIFF: an ImageJ stack of 10 pages of 9 x 8 uint16 pixels, 0.5 um pixels, 1.5 um slices.
stack = (rng.random((10, 9, 8)) * 4000).astype(np.uint16)
tifffile.imwrite(out + "stack.tif", stack, imagej=True, resolution=(2.0, 2.0),
                 metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"})
# --sigma 1.5um is (1, 3, 3) voxels along (z, y, x); nearest mode.
np.save(out + "stack_sigma1.5um_nearest_scipy.npy",
        gaussian_filter(stack.astype(np.float64), sigma=(1.0, 3.0, 3.0), mode="nearest"))

# NumPy: float32, 8 x 9 x 10.
vol = rng.random((8, 9, 10)).astype(np.float32)
np.save(out + "vol.npy", vol)
np.save(out + "vol_sigma1-2-2_wrap_scipy.npy",
        gaussian_filter(vol.astype(np.float64), sigma=(1, 2, 2), mode="wrap"))
