"""Size is a feature: line budgets per file and for the engine core (docs/architecture.md).

"Code lines" are lines that are not blank, not comments and not docstrings.
"""
import ast
import io
import os
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("kernels", "autograd", "minigen")
FILE_BUDGET = 400
MODEL_BUDGET = 300
ENGINE_CORE = ("autograd/tensor.py", "autograd/function.py", "autograd/engine.py")
ENGINE_BUDGET = 600


def code_lines(path):
    """Count lines holding code (tokens other than comments, docstrings and newlines)."""
    src = open(path, encoding="utf-8").read()
    doc_lines = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - doc_lines)


def python_files():
    for pkg in PACKAGES:
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


@pytest.mark.parametrize("path", sorted(python_files()))
def test_file_budget(path):
    budget = MODEL_BUDGET if path.startswith("minigen/models/") and not path.endswith("__init__.py") \
        else FILE_BUDGET
    n = code_lines(os.path.join(ROOT, path))
    assert n <= budget, f"{path} has {n} code lines; the budget is {budget}: split it or simplify"


def test_engine_core_budget():
    n = sum(code_lines(os.path.join(ROOT, p)) for p in ENGINE_CORE)
    assert n <= ENGINE_BUDGET, f"engine core (tensor+function+engine) has {n} code lines > {ENGINE_BUDGET}"


def test_counter_ignores_docstrings_and_comments(tmp_path):
    p = tmp_path / "m.py"
    p.write_text('"""doc\nmore"""\n# comment\n\ndef f():\n    """doc"""\n    return 1  # x\n')
    assert code_lines(str(p)) == 2


def folder_map():
    """Rows (path, code lines, first docstring line) for the README's folder map."""
    rows = []
    for path in sorted(python_files()):
        full = os.path.join(ROOT, path)
        doc = ast.get_docstring(ast.parse(open(full, encoding="utf-8").read())) or ""
        rows.append((path, code_lines(full), doc.strip().splitlines()[0] if doc.strip() else ""))
    return rows


if __name__ == "__main__":  # python tests/test_budget.py  -> the README's folder map
    print("| file | code lines | what it holds |\n|---|---:|---|")
    for path, n, doc in folder_map():
        if not path.endswith("__init__.py") or n > 20:
            print(f"| `{path}` | {n} | {doc.replace('|', '/')} |")
    core = sum(code_lines(os.path.join(ROOT, p)) for p in ENGINE_CORE)
    print(f"\nengine core (tensor + function + engine): {core} code lines (budget {ENGINE_BUDGET})")
