"""The benchmark harness (not timings): the isolated runner's table, peak memory, one-engine children."""
import json
import os
import subprocess
import sys

import pytest

from minigen.bench import _isolated


def test_table_reports_medians_spread_and_flags_wide_ratios():
    results = {("case", "step"): {"minigen": [10.0, 12.0, 11.0], "torch": [10.0, 10.0, 10.0],
                                  "ratio": [1.0, 1.2, 1.1], "mb": {"minigen": [5.0], "torch": [7.0]}},
               ("case", "fwd"): {"minigen": [2.0, 2.1], "torch": [4.0, 4.0], "ratio": [0.5, 0.52], "mb": {}}}
    lines = []
    rows = _isolated._table(results, 3, out=lines.append)
    step, fwd = rows
    assert step["ratio"] == 1.1 and (step["ratio_min"], step["ratio_max"]) == (1.0, 1.2)
    assert not step["wide"] and step["peak_mb"] == {"minigen": 5.0, "torch": 7.0}
    assert "5/7" in lines[3] and "1.00-1.20" in lines[3]
    assert "GFLOP/s" in lines[1] and "/" not in lines[4].split()[-1]   # no flop count: no GFLOP/s
    results[("case", "fwd")]["flop"] = 4e9                       # 4 GFLOP in 2.05 ms vs 4.0 ms
    lines = []
    assert _isolated._table(results, 3, out=lines.append)[1]["flop"] == 4e9
    assert lines[4].endswith("1951.2/1000.0")
    results[("case", "fwd")]["ratio"] = [0.5, 0.7]                # 0.7 / 0.5 > WIDE
    lines = []
    assert _isolated._table(results, 2, out=lines.append)[1]["wide"]
    assert "WIDE" in lines[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resets the high-water mark through /proc")
def test_peak_memory_sees_what_a_step_allocates():
    """In a fresh process with the harness's malloc setting (in this one, freed heap memory of
    earlier tests would be reused and the resident set would not grow)."""
    code = ("import numpy as np; from minigen.bench import _isolated\n"
            "def step(state): state['keep'] = np.ones(40 * 2 ** 20 // 8)   # 40 MiB, touched\n"
            "print(_isolated.peak_mb(step, {}, steps=1))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert 35 < float(out) < 80


def test_a_child_times_only_its_engine(tmp_path):
    calls = []
    case = {"name": "toy", "setup": lambda: {},
            "minigen": {"fwd": lambda s: calls.append("minigen"), "step": lambda s: calls.append("minigen")},
            "torch": {"fwd": lambda s: calls.append("torch")}}
    path = tmp_path / "rows.json"
    _isolated.child([case], "torch", 3, str(path))
    rows = json.loads(path.read_text())
    assert set(calls) == {"torch"} and [(r["case"], r["pass"]) for r in rows] == [("toy", "fwd")]
    calls.clear()
    _isolated.child([case], "minigen", 3, str(path), memory=True)
    rows = json.loads(path.read_text())
    assert set(calls) == {"minigen"} and [r["pass"] for r in rows] == ["step"] and rows[0]["ms"] is None
