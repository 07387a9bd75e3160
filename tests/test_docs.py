"""The repository documents itself: every document a file refers to is in the repository,
and the README's table of figures is the one ``python -m minigen reproduce`` checks."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = {".git", "runs", "build", "dist", ".venv-ci", "__pycache__"}


def text_files():
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
        for f in files:
            if f.endswith((".py", ".md", ".cfg", ".toml", ".sh")):
                yield os.path.join(dirpath, f)


def test_every_referenced_document_is_in_the_repository():
    missing = []
    for path in text_files():
        text = open(path, encoding="utf-8").read()
        for ref in set(re.findall(r"[\w./-]*[A-Za-z_]\.md\b", text)):
            name = os.path.basename(ref)
            candidates = [os.path.join(ROOT, ref.lstrip("./")), os.path.join(os.path.dirname(path), ref)]
            found = any(os.path.exists(c) for c in candidates) or any(
                name in files for _, _, files in os.walk(os.path.join(ROOT, "docs"))) or name == "README.md"
            if not found:
                missing.append(f"{os.path.relpath(path, ROOT)} -> {ref}")
    assert not missing, "references to documents outside the repository: " + ", ".join(sorted(missing))


def test_readme_table_shows_the_figures_reproduce_checks():
    from minigen.reproduce import README, command
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for model, figures in README.items():
        assert command(model) in readme, f"the README does not show the command behind {model}'s figures"
        for key, value in figures:
            assert f"{value:.4f}" in readme, f"README lacks {model} {key} {value:.4f}"


@pytest.mark.parametrize("doc", ["docs/architecture.md", "docs/performance.md", "docs/gpu.md"])
def test_docs_exist_and_are_linked_from_the_readme(doc):
    assert os.path.exists(os.path.join(ROOT, doc))
    assert doc in open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
