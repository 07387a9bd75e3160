"""The layering of docs/architecture.md, checked on the source: ``kernels`` <- ``autograd`` <- ``minigen``.

    kernels   imports neither autograd nor minigen (raw arrays in, raw arrays out)
    autograd  imports kernels, never minigen
    minigen   imports autograd, never kernels: devices, taps and the like come
              through ``autograd`` (``autograd.device``, ``autograd.ops.taps``).
              ``minigen/bench`` is exempt: it benchmarks the kernels themselves.

Every import statement counts, at module level or inside a function, absolute or
relative, so a lazy ``import kernels`` in a method fails here too.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORBIDDEN = {"kernels": {"autograd", "minigen"}, "autograd": {"minigen"}, "minigen": {"kernels"}}
EXEMPT = ("minigen/bench/",)


def python_files():
    for pkg in FORBIDDEN:
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT).replace(os.sep, "/")


def imported_packages(path, root=ROOT):
    """(line, top-level package) of every import in the file, relative imports resolved."""
    src = open(os.path.join(root, path), encoding="utf-8").read()
    package = path.split("/")[:-1]  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(src, filename=path)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . / .. import: resolve against this file's package
                base = package[:len(package) - node.level + 1]
                top = base[0] if base else (node.module or "").split(".")[0]
            else:
                top = node.module.split(".")[0]
            out.append((node.lineno, top))
    return out


def violations(path, root=ROOT):
    """One message per forbidden import in ``path`` (relative to ``root``)."""
    layer = path.split("/")[0]
    if path.startswith(EXEMPT):
        return []
    return [f"{path}:{line} imports {top} ({layer} must not import {', '.join(sorted(FORBIDDEN[layer]))})"
            for line, top in imported_packages(path, root) if top in FORBIDDEN[layer]]


def test_no_layer_imports_a_layer_above_it_or_skips_one():
    bad = [v for path in python_files() for v in violations(path)]
    assert not bad, "layering broken (kernels <- autograd <- minigen):\n" + "\n".join(bad)


@pytest.mark.parametrize("src, path, expect", [
    ("import kernels\n", "minigen/nn/x.py", ["kernels"]),
    ("def f():\n    from kernels.backend import to_device\n", "minigen/x.py", ["kernels"]),
    ("import os, kernels.taps as T\n", "minigen/x.py", ["kernels"]),
    ("from autograd import ops\n", "minigen/x.py", []),
    ("from .. import tensor\nfrom .shape import pad\n", "autograd/ops/x.py", []),
    ("import minigen.nn\n", "autograd/x.py", ["minigen"]),
    ("from autograd.tensor import Tensor\n", "kernels/cpu/x.py", ["autograd"]),
    ("import kernels\n", "minigen/bench/x.py", []),
])
def test_the_checker_catches_each_kind_of_import(tmp_path, src, path, expect):
    """The checker itself: absolute, dotted, lazy and relative imports, and the bench exemption."""
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(src)
    found = [v.split(" imports ")[1].split(" ")[0] for v in violations(path, str(tmp_path))]
    assert found == expect
