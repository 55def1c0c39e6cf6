"""PyTorch's tests need scipy's array-API mode, which scipy reads once, at import: set here,
before any test module imports scipy."""

import os

os.environ["SCIPY_ARRAY_API"] = "1"
