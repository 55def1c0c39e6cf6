"""The Python package's manual (python/README.md) works as written: each of its Python examples
runs as a script, and its shell example's `python -c` line too."""

import pathlib
import re
import shlex
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def section():
    """The whole manual: its examples are in every section (the functions, dask, Zarr)."""
    return README.read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", section(), re.S)


def run(args, cwd):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_the_section_has_examples():
    assert len(blocks("python")) >= 4
    assert any("python -c" in b for b in blocks("sh"))


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_examples(tmp_path, index):
    script = tmp_path / f"example_{index}.py"
    script.write_text(blocks("python")[index])
    run([sys.executable, str(script)], tmp_path)


def test_shell_example(tmp_path):
    for block in blocks("sh"):
        for line in block.splitlines():
            if line.startswith("python -c"):
                args = shlex.split(line.split("  #")[0])
                out = run([sys.executable, *args[1:]], tmp_path)
                assert abs(float(out) - 1.0) < 1e-5
