"""See what backward will do: the recorded ops from a loss back to the leaves.

    >>> print_tape(loss, names=model)
    step  op                              inputs                   -> outputs
       1  Sum                             (8, 10)                  -> ()
       2  head: Add                       (8, 10), (10,)           -> (8, 10)
       3  head: MatMul                    (8, 256), (256, 10)      -> (8, 10)
       4  layers.0: ReLU                  (8, 256)                 -> (8, 256)
       ...

Each op recorded inside a module's call is prefixed with the module that ran it
(the innermost one: ``Function.scope``, set through ``autograd.mode.enter_scope``).
With ``names=model`` the prefix is the module's dotted name in ``model``
(``model.named_modules()``; the model itself prints as its class name); without it,
the module's class name. Ops run outside any module have no prefix.
"""
from .engine import toposort


def _namer(names):
    """scope object -> printed prefix ('' for none), from a Module or a {name: module} dict."""
    if names is None:
        table = {}
    elif hasattr(names, "named_modules"):
        table = {id(m): n for n, m in names.named_modules()}
    else:
        table = {id(m): n for n, m in dict(names).items()}

    def name_of(scope):
        if scope is None:
            return ""
        return table.get(id(scope)) or type(scope).__name__

    return name_of


def tape(y, names=None):
    """Rows ``(op name, input shapes, output shapes, module name)`` in the order backward runs.

    Args:
        y: the Tensor (or list of Tensors) backward would start from.
        names: optional Module (or dict name -> module) to name the scopes by; see the
            module docstring. The module name is '' for ops outside any module.
    """
    name_of = _namer(names)
    rows = []
    for f in toposort(y):
        ins = [tuple(x.shape) for x in f.inputs]
        outs = [tuple(shape) for shape, _ in f.output_meta]
        rows.append((f.name, ins, outs, name_of(f.scope)))
    return rows


def print_tape(y, file=None, names=None):
    """Print the tape of ``y`` (see module docstring). Returns the number of ops.

    Args:
        y: the Tensor backward would start from.
        file: where to print (default stdout).
        names: a Module (or dict name -> module) whose dotted names label the ops.
    """
    rows = tape(y, names)
    width = max([16] + [len(where) + 2 + len(name) for name, _, _, where in rows])
    print(f"{'step':>4s}  {'op':{width}s} {'inputs':34s} -> outputs", file=file)
    for i, (name, ins, outs, where) in enumerate(rows, 1):
        op = f"{where}: {name}" if where else name
        ins_s = ", ".join(str(s) for s in ins)
        outs_s = ", ".join(str(s) for s in outs)
        print(f"{i:4d}  {op:{width}s} {ins_s:34s} -> {outs_s}", file=file)
    return len(rows)
