"""Every example in examples/ runs with its tiny overrides (pytorch-generative's reproduce(debug))."""
import glob
import importlib.util
import inspect
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "[0-9][0-9]_*.py")))


def load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_example_runs_tiny(path, tmp_path):
    mod = load(path)
    assert mod.__doc__, f"{path} needs a module docstring saying what it shows and how to run it"
    params = inspect.signature(mod.main).parameters
    kwargs = {"tiny": True}
    if "out_dir" in params:
        kwargs["out_dir"] = str(tmp_path)
    mod.main(**kwargs)
    if "out_dir" in params:
        pngs = glob.glob(os.path.join(str(tmp_path), "**", "*.png"), recursive=True)
        assert pngs, f"{os.path.basename(path)} saved no picture"
