"""Checkpoints: any nested state as one ``.npz`` file, written atomically.

A training state is a tree of dicts and lists whose leaves are arrays (weights,
Adam moments) or plain values (step counts, hyper-parameters, the bit-generator state
of every ``numpy.random.Generator``). ``save_checkpoint`` splits it in two:

* every array becomes one entry of the ``.npz``, named by its path in the tree
  (``model/fc1.weight``, ``optim/optimizers/main/state/0/exp_avg``), so
  ``np.load(path)`` shows a student what a checkpoint holds;
* everything else becomes a JSON *skeleton*, stored as the string entry ``__meta__``,
  with ``{"__array__": key}`` where an array was. JSON keeps Python ints exactly (a
  PCG64 state is a 128-bit int) and floats exactly (``repr`` round-trips).

No pickle is involved (``np.load(..., allow_pickle=False)``), so loading a checkpoint
never runs code. Tuples come back as lists.

Atomic write: the file is written to a temporary name in the same folder, flushed and
``fsync``-ed, then renamed over the target with ``os.replace`` (atomic on POSIX and
Windows). A crash at any point leaves either the old checkpoint or the new one, never
a torn file.
"""
import json
import os
import uuid
import zipfile

import numpy as np

from autograd import as_numpy, is_cupy

__all__ = ["save_checkpoint", "load_checkpoint", "atomic_write", "flatten_state", "unflatten_state",
           "generator_states", "set_generator_states", "CheckpointError"]

META_KEY = "__meta__"
FORMAT = "minigen-checkpoint-1"


# ----------------------------------------------------------------------------- tree <-> npz


def flatten_state(tree):
    """Split a nested state into ``(arrays, skeleton)``.

    Args:
        tree: dicts (string keys), lists/tuples, arrays (NumPy or CuPy), numbers,
            strings, bools, None.

    Returns:
        ``arrays``: ``{path: NumPy array}``; ``skeleton``: the JSON-able tree with
        ``{"__array__": path}`` in place of each array.
    """
    arrays = {}

    def walk(node, path):
        if isinstance(node, np.ndarray) or is_cupy(node):
            key = "/".join(path) or "array"
            if key in arrays or key == META_KEY:
                raise ValueError(f"two arrays in the checkpoint would share the name {key!r}")
            arrays[key] = as_numpy(node)
            return {"__array__": key}
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if not isinstance(k, str):
                    raise TypeError(f"checkpoint dict keys must be str, got {k!r} at {'/'.join(path)}")
                out[k] = walk(v, path + [k])
            return out
        if isinstance(node, (list, tuple)):
            return [walk(v, path + [str(i)]) for i, v in enumerate(node)]
        if isinstance(node, np.generic):  # NumPy scalars become Python numbers
            return node.item()
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise TypeError(f"cannot store {type(node).__name__} at {'/'.join(path)!r} in a checkpoint")

    skeleton = walk(tree, [])
    return arrays, skeleton


def unflatten_state(skeleton, arrays):
    """Inverse of ``flatten_state``: put the arrays back into the skeleton."""
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__array__"}:
            return arrays[skeleton["__array__"]]
        return {k: unflatten_state(v, arrays) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_state(v, arrays) for v in skeleton]
    return skeleton


# ----------------------------------------------------------------------------- atomic files


def atomic_write(path, write):
    """Create or replace ``path`` atomically: ``write(f)`` fills a temporary file first.

    Args:
        path: the file to create or replace.
        write: a function taking a binary file object open for writing.

    If ``write`` raises (or the process dies), ``path`` is untouched and the temporary
    file is removed (or, after a kill, left as ``.<name>.*.tmp`` beside it).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:       # a new file, with the usual permissions (umask)
            write(f)
            f.flush()
            os.fsync(f.fileno())          # the bytes are on disk before the rename
        os.replace(tmp, path)             # atomic: readers see the old file or the new one
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)                 # the rename itself survives a power cut


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path, state):
    """Write a nested state (see the module docstring) to ``path`` as ``.npz``, atomically.

    Args:
        path: target file, conventionally ending in ``.npz``.
        state: dict tree of arrays and JSON-able values.
    """
    arrays, skeleton = flatten_state(state)
    meta = json.dumps({"format": FORMAT, "state": skeleton})
    atomic_write(path, lambda f: np.savez(f, **arrays, **{META_KEY: np.array(meta)}))


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``.

    Returns:
        The state tree, with NumPy arrays as leaves.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupted or not a minigen checkpoint;
            the message names the file.
    """
    try:
        with np.load(os.fspath(path), allow_pickle=False) as z:
            if META_KEY not in z.files:
                raise CheckpointError(f"{path} is not a minigen checkpoint (no {META_KEY} entry)")
            meta = json.loads(str(z[META_KEY]))
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
            arrays = {k: z[k] for k in z.files if k != META_KEY}
        return unflatten_state(meta["state"], arrays)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as err:
        if isinstance(err, (FileNotFoundError, CheckpointError)):
            raise
        raise CheckpointError(f"{path} is truncated or corrupted and cannot be read "
                              f"({type(err).__name__}: {err})") from err


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, corrupted, or not a checkpoint)."""


# ----------------------------------------------------------------------------- generators


def generator_states(generators):
    """``{name: bit-generator state dict}`` of ``{name: numpy.random.Generator}``."""
    return {name: g.bit_generator.state for name, g in generators.items()}


def set_generator_states(generators, states):
    """Restore the states saved by ``generator_states`` into the same-named generators.

    Raises:
        ValueError: the names differ.
    """
    if set(generators) != set(states):
        raise ValueError(f"checkpoint has generators {sorted(states)}, the run has {sorted(generators)}")
    for name, g in generators.items():
        g.bit_generator.state = states[name]
