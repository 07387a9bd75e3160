"""See what backward will do: the recorded ops from a loss back to the leaves.

    >>> print_tape(loss)
    step  op          inputs                 -> outputs
       1  Sum         (64, 10)               -> ()
       2  Mul         (64, 10), (64, 10)     -> (64, 10)
       ...
"""
from .engine import toposort


def tape(y):
    """List of (op name, input shapes, output shapes) in the order backward runs."""
    rows = []
    for f in toposort(y):
        ins = [tuple(x.shape) for x in f.inputs]
        outs = [tuple(shape) for shape, _ in f.output_meta]
        rows.append((f.name, ins, outs))
    return rows


def print_tape(y, file=None):
    """Print the tape of ``y`` (see module docstring). Returns the number of ops."""
    rows = tape(y)
    print(f"{'step':>4s}  {'op':16s} {'inputs':34s} -> outputs", file=file)
    for i, (name, ins, outs) in enumerate(rows, 1):
        ins_s = ", ".join(str(s) for s in ins)
        outs_s = ", ".join(str(s) for s in outs)
        print(f"{i:4d}  {name:16s} {ins_s:34s} -> {outs_s}", file=file)
    return len(rows)
