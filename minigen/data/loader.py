"""A seeded batch iterator that a training run can checkpoint and resume exactly.

::

    rng = np.random.default_rng(0)
    loader = BatchLoader(ds.x, ds.y, batch_size=64, rng=rng)
    for epoch in range(10):
        for xb, yb in loader:          # one epoch, in a fresh random order
            ...
            ckpt = loader.state_dict()  # small dict of ints: safe to save anytime

Each pass of ``for ... in loader`` is one epoch. At the start of an epoch the loader
records the state of its generator and then draws the epoch's permutation from it, so
``state_dict()`` need not store the permutation: ``load_state_dict`` rewinds the
generator, redraws the same permutation, then restores the generator's current state
(which also covers random numbers drawn by a ``transform``, e.g. dynamic
binarisation) and the position inside the epoch. The next batch after a resume is the
batch the interrupted run would have seen next.

Give the loader a generator of its own (``np.random.default_rng(seed)`` or
``rng.spawn(1)[0]``): anything else drawing from it changes the order.
"""
import numpy as np


class BatchLoader:
    """Iterate over minibatches of one or more arrays sharing their first axis.

    Args:
        *arrays: arrays with the same length N along axis 0 (e.g. images and labels).
        batch_size: examples per batch.
        shuffle: draw a new random order every epoch (needs ``rng``).
        drop_last: skip the final batch when it would be smaller than ``batch_size``.
        rng: a ``numpy.random.Generator`` or an int seed. Required when shuffling or
            when ``transform`` is given.
        transform: optional ``transform(x_batch, rng) -> x_batch`` applied to the
            first array of each batch, drawing from the loader's generator (dynamic
            binarisation, dequantisation noise). The other arrays pass through.

    Iterating yields the batch array itself for one input array, else a tuple.
    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, *arrays, batch_size, shuffle=True, drop_last=False, rng=None, transform=None):
        if not arrays:
            raise ValueError("BatchLoader needs at least one array")
        n = len(arrays[0])
        if any(len(a) != n for a in arrays):
            raise ValueError(f"arrays differ in length: {[len(a) for a in arrays]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if drop_last and n < batch_size:
            raise ValueError(f"drop_last with {n} examples and batch_size {batch_size} "
                             f"gives no batch at all")
        if rng is None and (shuffle or transform is not None):
            raise ValueError("pass rng=np.random.default_rng(seed): minigen has no global "
                             "random state, and shuffling or a transform needs one")
        self.arrays = arrays
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
        self.transform = transform
        self.epoch = 0              # completed epochs
        self.position = 0           # batches handed out in the current epoch
        self._order = None          # permutation of the current epoch (None: no epoch open)
        self._epoch_rng_state = None

    @property
    def num_examples(self):
        """Number of examples N."""
        return len(self.arrays[0])

    def __len__(self):
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)  # ceil(n / b)

    def _start_epoch(self):
        """Record the generator state, then draw this epoch's order."""
        if self.shuffle:
            self._epoch_rng_state = self.rng.bit_generator.state
            self._order = self.rng.permutation(self.num_examples)
        else:
            self._order = np.arange(self.num_examples)
        self.position = 0

    def __iter__(self):
        if self._order is not None and self.position >= len(self):
            self._finish_epoch()  # the last epoch was consumed but not closed
        if self._order is None:
            self._start_epoch()
        while self.position < len(self):
            index = self._order[self.position * self.batch_size:(self.position + 1) * self.batch_size]
            batch = [a[index] for a in self.arrays]  # fancy indexing: copies, never views
            if self.transform is not None:
                batch[0] = self.transform(batch[0], self.rng)
            self.position += 1  # before yielding: a checkpoint taken now resumes after it
            yield batch[0] if len(batch) == 1 else tuple(batch)
        self._finish_epoch()

    def _finish_epoch(self):
        self.epoch += 1
        self.position = 0
        self._order = None
        self._epoch_rng_state = None

    def state_dict(self):
        """Everything needed to continue exactly where this loader is.

        Returns:
            dict of plain Python values (ints, bools, the generator's state dicts).
        """
        return {
            "epoch": self.epoch,
            "position": self.position,
            "in_epoch": self._order is not None,
            "epoch_rng_state": self._epoch_rng_state,
            "rng_state": None if self.rng is None else self.rng.bit_generator.state,
            "num_examples": self.num_examples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state):
        """Restore a ``state_dict()`` taken from a loader over the same data and settings.

        Args:
            state: the dict returned by ``state_dict``.

        Raises:
            ValueError: if the data size or settings differ from those saved.
        """
        for key in ("num_examples", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(f"cannot resume: saved {key}={state[key]!r} but this loader "
                                 f"has {key}={getattr(self, key)!r}")
        self.epoch, self._order, self._epoch_rng_state = state["epoch"], None, None
        if state["in_epoch"]:
            if self.shuffle:
                self.rng.bit_generator.state = state["epoch_rng_state"]
            self._start_epoch()  # redraws the very same permutation
        if state["rng_state"] is not None:
            self.rng.bit_generator.state = state["rng_state"]
        self.position = state["position"]
