"""minigen.data: splits, views, toy sets, the batch loader, IDX files, downloads.

No test touches the internet: downloads go to file:// URLs or a server on 127.0.0.1.
"""
import functools
import gzip
import hashlib
import http.server
import json
import os
import threading
import urllib.request

import numpy as np
import pytest

from minigen import data
from minigen.data import (BatchLoader, ChecksumError, DatasetNotFoundError, IDXFormatError, download,
                          download_dataset, fetch, get_dataset, idx, list_datasets, read_idx, toy, write_idx)
from minigen.data.__main__ import main as cli_main

TOY_NAMES = ["moons", "circles", "8gaussians", "checkerboard", "swissroll", "pinwheel"]


# ----------------------------------------------------------------------------- digits


def test_digits_protocol():
    from sklearn.datasets import load_digits

    sizes = {"train": 1000, "val": 350, "test": 447}
    splits = {s: get_dataset("digits", s) for s in sizes}
    for s, n in sizes.items():
        ds = splits[s]
        assert len(ds) == n and ds.x.shape == (n, 1, 8, 8) and ds.shape == (1, 8, 8)
        assert ds.x.dtype == np.uint8 and ds.y.dtype == np.int64 and ds.y.shape == (n,)
        assert ds.num_levels == 17 and ds.x.min() == 0 and ds.x.max() == 16
    # Splits are consecutive, in scikit-learn's order, and cover all 1797 images.
    everything = np.concatenate([splits[s].x[:, 0] for s in sizes])
    np.testing.assert_array_equal(everything, load_digits().images.astype(np.uint8))
    assert get_dataset("digits", "validation").x.shape[0] == 350


def test_digits_views():
    ds = get_dataset("digits", "train")
    b = ds.binarized()
    assert b.x.dtype == np.float32 and set(np.unique(b.x)) == {0.0, 1.0} and b.num_levels == 2
    np.testing.assert_array_equal(b.x, (ds.x >= 8).astype(np.float32))
    np.testing.assert_array_equal(get_dataset("digits", "train", view="binary").x, b.x)
    s = ds.scaled()
    assert s.x.dtype == np.float32 and s.x.max() == 1.0 and s.num_levels is None
    np.testing.assert_allclose(s.x, ds.x / 16.0)
    d1 = ds.dequantized(np.random.default_rng(3)).x
    d2 = ds.dequantized(np.random.default_rng(3)).x
    np.testing.assert_array_equal(d1, d2)
    assert d1.min() >= 0.0 and d1.max() < 1.0
    np.testing.assert_array_equal(np.floor(d1 * 17).astype(np.uint8), ds.x)  # (x + u) / 17
    with pytest.raises(ValueError, match="continuous"):
        s.binarized()


def test_bernoulli_binarize_is_seeded_and_unbiased():
    x = np.full((20000,), 4, dtype=np.uint8)                     # p = 4 / 16
    a = data.bernoulli_binarize(x, np.random.default_rng(0), 17)
    b = data.bernoulli_binarize(x, np.random.default_rng(0), 17)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.25) < 0.02
    assert data.bernoulli_binarize(np.array([0, 16]), np.random.default_rng(1), 17).tolist() == [0, 1]


def test_registry_names_and_errors():
    names = list_datasets()
    for name in ["digits", "mnist", "fashion-mnist", *TOY_NAMES, "mixture-1d", "sinusoids"]:
        assert name in names
    with pytest.raises(KeyError, match="unknown data set"):
        get_dataset("cifar-1000")
    with pytest.raises(ValueError, match="unknown split"):
        get_dataset("digits", "training")
    with pytest.raises(ValueError, match="unknown view"):
        get_dataset("digits", view="blurry")
    with pytest.raises(TypeError, match="stored"):
        get_dataset("digits", noise=0.1)


# ----------------------------------------------------------------------------- toys


@pytest.mark.parametrize("name", TOY_NAMES + ["mixture-1d"])
def test_toy_sets_are_deterministic(name):
    a = get_dataset(name, "train", n=500, seed=1)
    b = get_dataset(name, "train", n=500, seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.x.dtype == np.float32 and a.y.dtype == np.int64
    assert a.x.shape == (500, 1 if name == "mixture-1d" else 2)
    assert not np.array_equal(a.x, get_dataset(name, "train", n=500, seed=2).x)
    assert not np.array_equal(a.x, get_dataset(name, "val", n=500, seed=1).x)
    assert np.abs(a.x).max() < 8.0


@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy_generators_use_only_the_given_rng(name):
    x1, y1 = toy.TOY_2D[name](300, np.random.default_rng(7))
    x2, y2 = toy.TOY_2D[name](300, np.random.default_rng(7))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_gaussian_mixture_log_prob_is_normalised():
    xs = np.linspace(-10, 12, 20001)[:, None]
    p = np.exp(toy.gaussian_mixture_log_prob(xs, [[-2.0], [0.5], [3.0]], [0.5, 0.3, 1.0], [0.3, 0.3, 0.4]))
    assert abs(p.sum() * (xs[1, 0] - xs[0, 0]) - 1.0) < 1e-6
    g = np.linspace(-6, 6, 601)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    std = 0.5 / np.sqrt(2.0)
    p2 = np.exp(toy.gaussian_mixture_log_prob(grid, toy.eight_gaussians_means(), np.full(8, std),
                                              np.full(8, 1 / 8)))
    assert abs(p2.sum() * (g[1] - g[0]) ** 2 - 1.0) < 1e-4


def test_mu_law_round_trip_and_sinusoids():
    x = np.linspace(-1, 1, 1001)
    q = toy.mu_law_encode(x)
    assert q.min() == 0 and q.max() == 255 and q[500] == 128
    error = np.abs(toy.mu_law_decode(q) - x)
    assert error.max() < 0.025 and error[np.abs(x) < 0.005].max() < 2e-4  # fine steps near 0
    assert np.all(np.diff(q) >= 0)
    ds = get_dataset("sinusoids", "test", n=8, length=64)
    assert ds.x.shape == (8, 1, 64) and ds.x.dtype == np.uint8 and ds.num_levels == 256 and ds.y is None
    np.testing.assert_array_equal(ds.x, get_dataset("sinusoids", "test", n=8, length=64).x)


# ----------------------------------------------------------------------------- loader


def _epoch(loader):
    return [tuple(np.copy(a) for a in (b if isinstance(b, tuple) else (b,))) for b in loader]


def test_loader_covers_each_example_once_and_reshuffles():
    x = np.arange(10) * 10
    y = np.arange(10)
    loader = BatchLoader(x, y, batch_size=4, rng=np.random.default_rng(0))
    assert len(loader) == 3
    e1, e2 = _epoch(loader), _epoch(loader)
    assert [len(b[0]) for b in e1] == [4, 4, 2]
    for epoch in (e1, e2):
        seen = np.concatenate([b[1] for b in epoch])
        assert sorted(seen) == list(range(10))
        for xb, yb in epoch:
            np.testing.assert_array_equal(xb, yb * 10)               # rows stay paired
    assert not np.array_equal(np.concatenate([b[1] for b in e1]), np.concatenate([b[1] for b in e2]))
    assert loader.epoch == 2
    assert len(BatchLoader(x, batch_size=4, drop_last=True, rng=0)) == 2
    ordered = BatchLoader(x, batch_size=3, shuffle=False)
    assert [b.tolist() for b in ordered] == [[0, 10, 20], [30, 40, 50], [60, 70, 80], [90]]


def test_loader_same_seed_same_batches():
    x = np.arange(37)
    a = [_epoch(BatchLoader(x, batch_size=5, rng=np.random.default_rng(42))) for _ in range(2)]
    for b1, b2 in zip(*a):
        np.testing.assert_array_equal(b1[0], b2[0])


def test_loader_errors():
    with pytest.raises(ValueError, match="rng"):
        BatchLoader(np.arange(4), batch_size=2)
    with pytest.raises(ValueError, match="length"):
        BatchLoader(np.arange(4), np.arange(5), batch_size=2, rng=0)
    with pytest.raises(ValueError, match="no batch"):
        BatchLoader(np.arange(4), batch_size=8, drop_last=True, rng=0)


def _flip_noise(xb, rng):
    return xb + rng.random(xb.shape)  # a transform drawing from the loader's generator


@pytest.mark.parametrize("stop_after", [0, 1, 3, 4, 6])  # 4 batches per epoch: 4 is an epoch end
def test_loader_resume_reproduces_the_same_batches(stop_after):
    x, y = np.arange(15, dtype=np.float64), np.arange(15)

    def make():
        return BatchLoader(x, y, batch_size=4, rng=np.random.default_rng(5), transform=_flip_noise)

    reference = make()
    stream = [b for _ in range(3) for b in _epoch(reference)]      # 3 epochs, 12 batches
    interrupted = make()
    taken, state = 0, interrupted.state_dict()
    while taken < stop_after:
        for _ in interrupted:
            taken += 1
            if taken == stop_after:
                state = json.loads(json.dumps(interrupted.state_dict()))  # as a checkpoint would
                break
    resumed = make()
    resumed.load_state_dict(state)
    rest = []
    while len(rest) < len(stream) - stop_after:
        rest += _epoch(resumed)
    for got, want in zip(rest, stream[stop_after:]):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    with pytest.raises(ValueError, match="batch_size"):
        BatchLoader(x, y, batch_size=3, rng=0).load_state_dict(state)


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = str(tmp_path / f"a-idx3{suffix}")
    write_idx(path, array)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)


def test_idx_bad_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(IDXFormatError, match="not an IDX file"):
        read_idx(bad)
    labels = write_idx(str(tmp_path / "labels.gz"), np.arange(5, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match=r"magic number 2049.*expected 2051"):
        read_idx(labels, idx.IMAGES_MAGIC)
    images = write_idx(str(tmp_path / "images"), np.zeros((2, 3, 3), np.uint8))
    with open(images, "rb") as f:
        payload = f.read()
    (tmp_path / "short").write_bytes(payload[:-1])
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(tmp_path / "short", idx.IMAGES_MAGIC)


def _write_fake_mnist(folder, n_train=12, n_test=5, gz=True):
    """Small files with MNIST's names; image i is filled with the value i."""
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("test", n_test)):
        images_stem, labels_stem = idx.MNIST_FILES[split]
        images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28))
        write_idx(os.path.join(folder, images_stem + suffix), images)
        write_idx(os.path.join(folder, labels_stem + suffix), (np.arange(n) % 10).astype(np.uint8))


@pytest.fixture
def no_default_data(tmp_path, monkeypatch):
    """Point MINIGEN_DATA at an empty folder and hide Debian's fashion-mnist folder."""
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(idx, "SYSTEM_FOLDERS", {"fashion-mnist": [str(tmp_path / "debian")]})
    monkeypatch.setattr(idx, "NUM_VAL", 4)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_splits_from_a_folder(tmp_path, no_default_data, gz):
    _write_fake_mnist(str(tmp_path / "data" / "mnist"), gz=gz)
    train = get_dataset("mnist", "train", root=tmp_path / "data")
    val = get_dataset("mnist", "val", root=tmp_path / "data")
    test = get_dataset("mnist", "test", root=tmp_path / "data")
    assert (len(train), len(val), len(test)) == (8, 4, 5)      # last NUM_VAL of train are val
    assert train.x.shape == (8, 1, 28, 28) and train.x.dtype == np.uint8 and train.num_levels == 256
    assert train.x[:, 0, 0, 0].tolist() == list(range(8)) and val.x[:, 0, 0, 0].tolist() == [8, 9, 10, 11]
    assert test.y.dtype == np.int64 and test.y.tolist() == [0, 1, 2, 3, 4]


def test_mnist_found_through_minigen_data(tmp_path, no_default_data, monkeypatch):
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path / "cache"))
    _write_fake_mnist(str(tmp_path / "cache" / "fashion-mnist"))
    assert get_dataset("fashion-mnist", "test").classes[0] == "T-shirt/top"


def test_missing_dataset_error_names_files_folders_and_command(tmp_path, no_default_data):
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("fashion-mnist", "train", root=tmp_path / "nowhere")
    message = str(info.value)
    assert "train-images-idx3-ubyte[.gz]" in message and "train-labels-idx1-ubyte[.gz]" in message
    assert str(tmp_path / "nowhere" / "fashion-mnist") in message
    assert str(tmp_path / "empty" / "fashion-mnist") in message
    assert "python -m minigen.data download fashion-mnist --root DIR" in message
    assert "apt-get install dataset-fashion-mnist" in message
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte") as info:
        get_dataset("mnist", "test")
    assert "apt-get" not in str(info.value)


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian's dataset-fashion-mnist package is not installed")
def test_debian_fashion_mnist():
    test = get_dataset("fashion-mnist", "test", root="/usr/share/datasets/fashion-mnist")
    assert test.x.shape == (10000, 1, 28, 28) and np.bincount(test.y).tolist() == [1000] * 10


# ----------------------------------------------------------------------------- downloads


def _sha(b):
    return hashlib.sha256(b).hexdigest()


def test_download_file_url_checksum(tmp_path, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"minigen" * 1000)
    dest = tmp_path / "out" / "file.bin"
    download(src.as_uri(), dest, _sha(src.read_bytes()))
    assert dest.read_bytes() == src.read_bytes()

    def no_network(*args, **kwargs):
        raise AssertionError("a verified file must not be downloaded again")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download(src.as_uri(), dest, _sha(src.read_bytes())) == str(dest)


def test_download_wrong_checksum_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"corrupted")
    folder = tmp_path / "out"
    with pytest.raises(ChecksumError, match="SHA-256"):
        download(src.as_uri(), folder / "file.bin", "0" * 64)
    assert os.listdir(folder) == []                               # no partial or temp file
    (folder / "file.bin").write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download(src.as_uri(), folder / "file.bin", "0" * 64)
    assert (folder / "file.bin").read_bytes() == b"old" and os.listdir(folder) == ["file.bin"]


def test_download_from_local_http_server(tmp_path):
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "x.gz").write_bytes(gzip.compress(b"abc" * 100))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/x.gz"
        dest = download(url, tmp_path / "got.gz", _sha((tmp_path / "served" / "x.gz").read_bytes()))
        assert gzip.decompress(open(dest, "rb").read()) == b"abc" * 100
    finally:
        server.shutdown()
        server.server_close()


def test_download_dataset_tries_mirrors_then_loads(tmp_path, no_default_data, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    _write_fake_mnist(str(mirror))
    sums = {f: _sha((mirror / f).read_bytes()) for f in os.listdir(mirror)}
    known = {"mnist": {"mirrors": [(tmp_path / "dead").as_uri() + "/", mirror.as_uri() + "/"],
                       "sha256": sums}}
    monkeypatch.setattr(fetch, "KNOWN_FILES", known)
    folder = download_dataset("mnist", root=tmp_path / "root")
    assert sorted(os.listdir(folder)) == sorted(sums)
    assert len(get_dataset("mnist", "test", root=tmp_path / "root")) == 5
    assert cli_main(["download", "mnist", "--root", str(tmp_path / "cli")]) == 0
    assert len(get_dataset("mnist", "train", root=tmp_path / "cli")) == 8
    known["mnist"]["mirrors"] = [(tmp_path / "dead").as_uri() + "/"]
    assert cli_main(["download", "mnist", "--root", str(tmp_path / "fails")]) == 1
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert cli_main(["list"]) == 0 and "fashion-mnist" in capsys.readouterr().out


def test_dataset_subset_feeds_a_loader():
    ds = get_dataset("digits", "val").subset(slice(0, 10))
    assert len(ds) == 10 and ds.num_levels == 17 and ds.name == "digits"
    xb, yb = next(iter(BatchLoader(*ds.arrays(), batch_size=4, rng=0)))
    assert xb.shape == (4, 1, 8, 8) and yb.shape == (4,)
    assert "digits" in repr(ds) and "(10, 1, 8, 8)" in repr(ds)
