"""MNIST and Fashion-MNIST from IDX files: the format, where the files are looked for, splits.

The IDX format (LeCun's MNIST page) is a 4-byte big-endian magic number, one
4-byte big-endian size per dimension, then the raw values in C order::

    byte 0-1   0x00 0x00
    byte 2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64 (multi-byte values are big-endian)
    byte 3     number of dimensions
    then       ndim sizes (uint32, big-endian), then the data

so MNIST images start with magic 2051 (0x00000803: uint8, 3 dims) and labels with
2049 (0x00000801: uint8, 1 dim). Files may be gzipped (``.gz``); we detect that from
their first two bytes, not from the name.

Where the files are looked for, in order (the first folder holding every file a
split needs wins; each file may be plain or ``.gz``)::

    ROOT/<name>, ROOT/<torchvision name>/raw, ROOT         if root= is given
    $MINIGEN_DATA/<name>, $MINIGEN_DATA/<torchvision name>/raw
    ~/.cache/minigen/<name>                                if MINIGEN_DATA is unset
    /usr/share/datasets/fashion-mnist                      fashion-mnist only (Debian's
                                                           ``dataset-fashion-mnist`` package)

Splits (fixed): train = the first 50000 images of the training file, val = its last
10000 (``NUM_VAL``), test = the 10000 ``t10k`` images. Images (N, 1, 28, 28) uint8 in 0..255,
labels (N,) int64.
"""
import gzip
import os

import numpy as np

from .datasets import Dataset, canonical_split

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 2051  # uint8, 3 dimensions
LABELS_MAGIC = 2049  # uint8, 1 dimension

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NUM_VAL = 10000  # the last NUM_VAL training images are the val split

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CLASSES = {"mnist": tuple(str(d) for d in range(10)), "fashion-mnist": FASHION_CLASSES}
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
# Debian's package and the folder it installs; SYSTEM_FOLDERS is searched (tests patch it).
DEBIAN_PACKAGES = {"fashion-mnist": ("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")}
SYSTEM_FOLDERS = {"fashion-mnist": ["/usr/share/datasets/fashion-mnist"]}


class IDXFormatError(ValueError):
    """A file is not a valid IDX file, or not the kind of IDX file expected."""


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are in none of the folders searched."""


# ----------------------------------------------------------------------------- format


def _open(path):
    """Open ``path`` for binary reading, through gzip when it starts with 0x1f 0x8b."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path, expected_magic=None):
    """Read an IDX file (plain or gzipped) into a NumPy array in native byte order.

    Args:
        path: file path.
        expected_magic: if given, the magic number the file must carry
            (``IMAGES_MAGIC`` = 2051, ``LABELS_MAGIC`` = 2049).

    Returns:
        The array, shaped by the file's dimension sizes.

    Raises:
        IDXFormatError: bad magic number, unknown type code, or wrong length.
    """
    with _open(path) as f:
        header = f.read(4)
        if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in IDX_DTYPES:
            raise IDXFormatError(
                f"{path}: not an IDX file (first bytes {header.hex() or 'empty'}; an IDX file "
                f"starts 00 00 <type code> <ndim>, e.g. 00000803 for MNIST images)")
        magic = int.from_bytes(header, "big")
        if expected_magic is not None and magic != expected_magic:
            raise IDXFormatError(
                f"{path}: magic number {magic} (0x{magic:08x}), expected {expected_magic} "
                f"(0x{expected_magic:08x}); is this an images file where labels were expected, "
                f"or the other way round?")
        ndim = header[3]
        sizes = f.read(4 * ndim)
        if len(sizes) < 4 * ndim:
            raise IDXFormatError(f"{path}: header ends before its {ndim} dimension sizes")
        shape = tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim))
        dtype = np.dtype(IDX_DTYPES[header[2]])
        data = f.read()
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise IDXFormatError(f"{path}: header says shape {shape} ({expected} bytes of data) "
                             f"but the file holds {len(data)} bytes; truncated download?")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``.

    Args:
        path: destination path.
        array: array of uint8, int8, int16, int32, float32 or float64.

    Returns:
        ``path``.
    """
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise IDXFormatError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.dtype(IDX_DTYPES[code])).tobytes()
    if str(path).endswith(".gz"):
        with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime=0: same bytes every time
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return path


# ----------------------------------------------------------------------------- finding files


def default_root():
    """The base folder used when no root is given.

    Returns:
        ``$MINIGEN_DATA`` when set, else ``~/.cache/minigen``.
    """
    return os.environ.get("MINIGEN_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "minigen")


def search_folders(name, root=None):
    """The folders searched for the IDX files of ``name``, in order (see the module docstring).

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        root: a folder given by the caller, or None.

    Returns:
        List of folder paths (they need not exist).
    """
    folders = []
    if root is not None:
        root = os.fspath(root)
        folders += [os.path.join(root, name), os.path.join(root, TORCHVISION_FOLDERS[name], "raw"), root]
    base = default_root()
    folders += [os.path.join(base, name), os.path.join(base, TORCHVISION_FOLDERS[name], "raw")]
    folders += SYSTEM_FOLDERS.get(name, [])
    return list(dict.fromkeys(folders))  # drop duplicates, keep order


def _existing(folder, stem):
    """``folder/stem`` or ``folder/stem.gz``, whichever exists first, else None."""
    for candidate in (os.path.join(folder, stem), os.path.join(folder, stem + ".gz")):
        if os.path.isfile(candidate):
            return candidate
    return None


def find_idx_files(name, stems, root=None):
    """Paths of the files ``stems`` from the first folder that holds all of them.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        stems: file names without ``.gz``, e.g. ``MNIST_FILES["train"]``.
        root: a folder given by the caller, or None.

    Returns:
        List of paths, one per stem.

    Raises:
        DatasetNotFoundError: naming the files, the folders searched and how to get them.
    """
    folders = search_folders(name, root)
    for folder in folders:
        paths = [_existing(folder, stem) for stem in stems]
        if all(paths):
            return paths
    raise DatasetNotFoundError(missing_message(name, stems, folders))


def missing_message(name, stems, folders):
    """The error text for a data set that was not found: what, where, and how to get it.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        stems: the file names looked for, without ``.gz``.
        folders: the folders searched, in order.

    Returns:
        A multi-line message.
    """
    lines = [f"{name}: could not find the IDX files",
             *[f"    {stem}[.gz]" for stem in stems],
             "in any of these folders:",
             *[f"    {folder}" for folder in folders],
             "To get them, on a machine with a network, run",
             f"    python -m minigen.data download {name} --root DIR",
             f"(or, in Python, minigen.data.download_dataset({name!r}, root='DIR')),",
             "then pass root='DIR' or set MINIGEN_DATA=DIR."]
    if name in DEBIAN_PACKAGES:
        package, folder = DEBIAN_PACKAGES[name]
        lines += [f"On Debian or Ubuntu, the package {package} installs them in {folder}:",
                  f"    sudo apt-get install {package}"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- splits


def load_mnist(name, split, root=None):
    """One split of MNIST or Fashion-MNIST from IDX files.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` (50000), ``"val"`` (10000) or ``"test"`` (10000).
        root: folder to search first (see the module docstring), or None.

    Returns:
        A ``Dataset`` with x (N, 1, 28, 28) uint8, y (N,) int64, num_levels 256.

    Raises:
        DatasetNotFoundError: if the files are nowhere to be found.
        IDXFormatError: if a file is malformed or images and labels disagree.
    """
    split = canonical_split(split)
    images_path, labels_path = find_idx_files(name, MNIST_FILES["test" if split == "test" else "train"],
                                              root)
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise IDXFormatError(f"{images_path} holds {len(images)} images but {labels_path} "
                             f"holds {len(labels)} labels")
    if split != "test":
        n_train = len(images) - NUM_VAL
        index = slice(0, n_train) if split == "train" else slice(n_train, None)
        images, labels = images[index].copy(), labels[index].copy()  # free the other split
    x = np.ascontiguousarray(images[:, None, :, :])  # (N, 1, H, W)
    return Dataset(x, labels.astype(np.int64), name, split, num_levels=256, classes=CLASSES[name])
