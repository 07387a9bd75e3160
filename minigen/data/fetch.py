"""Downloading data files safely: SHA-256 checked, written atomically, mirrors tried in turn.

``download`` streams a URL into a temporary file in the destination folder, hashing
as it goes, and only renames it into place (``os.replace``, atomic on POSIX and
Windows) once the checksum matches. An interrupted or corrupted download therefore
never leaves a half-written file under the final name, and a file that is present
is a file that was verified.

``download_dataset("mnist", root)`` fetches the four IDX files of MNIST or
Fashion-MNIST into ``root/<name>/``; the command line does the same::

    python -m minigen.data download mnist --root DIR

The checksums are those of the gzipped files as their publishers serve them. (The
Debian package ``dataset-fashion-mnist`` recompresses its copies, so its ``.gz``
bytes differ; minigen reads those without checking them.)
"""
import hashlib
import os
import tempfile
import urllib.request

from .idx import MNIST_FILES, default_root

KNOWN_FILES = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        # The S3 website endpoint is plain HTTP; the SHA-256 check is what we trust.
        "mirrors": ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "sha256": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one."""


def sha256_of(path, chunk_size=1 << 20):
    """Hex SHA-256 digest of a file, read in chunks.

    Args:
        path: file path.
        chunk_size: bytes read at a time.

    Returns:
        64-character lower-case hex string.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, sha256=None, timeout=60.0, progress=False):
    """Download ``url`` to ``dest``, verify its SHA-256, and move it into place atomically.

    If ``dest`` already exists with the right checksum, nothing is downloaded. On a
    wrong checksum or any error the temporary file is removed and ``dest`` is left
    as it was.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        dest: destination file path; its folder is created if needed.
        sha256: expected hex digest, or None to skip the check (not recommended).
        timeout: seconds to wait for the server.
        progress: print one progress line to stderr (uses tqdm when installed).

    Returns:
        ``dest``.

    Raises:
        ChecksumError: the downloaded bytes have another SHA-256.
        urllib.error.URLError: the URL could not be fetched.
    """
    dest = os.fspath(dest)
    if sha256 is not None and os.path.isfile(dest) and sha256_of(dest) == sha256.lower():
        return dest
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    # The temporary file lives in the destination folder, so os.replace is a rename
    # within one file system, which is atomic.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(dest) + ".", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            bar = _progress_bar(response, os.path.basename(dest)) if progress else None
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ChecksumError(f"{url}: SHA-256 is {got}, expected {sha256.lower()}; "
                                f"the file was not saved to {dest}")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return dest


def _progress_bar(response, name):
    """A tqdm bar sized by Content-Length, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
    return tqdm(total=int(total) if total else None, unit="B", unit_scale=True, desc=name)


def download_dataset(name, root=None, progress=False):
    """Fetch the four IDX files of ``name`` into ``root/<name>/``, trying each mirror in turn.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        root: base folder; default ``$MINIGEN_DATA``, else ``~/.cache/minigen``.
        progress: show progress bars.

    Returns:
        The folder holding the files.

    Raises:
        KeyError: for a name with no known files.
        RuntimeError: when every mirror failed for some file (all errors listed).
    """
    if name not in KNOWN_FILES:
        raise KeyError(f"no known download for {name!r}; choose one of {sorted(KNOWN_FILES)}")
    spec = KNOWN_FILES[name]
    folder = os.path.join(os.fspath(root) if root is not None else default_root(), name)
    for stem in (*MNIST_FILES["train"], *MNIST_FILES["test"]):
        filename = stem + ".gz"
        errors = []
        for mirror in spec["mirrors"]:
            try:
                download(mirror + filename, os.path.join(folder, filename), spec["sha256"][filename],
                         progress=progress)
                break
            except (OSError, ChecksumError) as error:  # URLError is an OSError
                errors.append(f"    {mirror + filename}: {error}")
        else:
            raise RuntimeError(f"could not download {filename} for {name}:\n" + "\n".join(errors))
    return folder
