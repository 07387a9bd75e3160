"""minigen.metrics: each metric against a closed form or a brute-force twin, and the sanity
checks of the issue (FID(test, test) = 0; FID and KID grow with noise; precision and recall of
a set against itself are 1; copied training images are flagged)."""
import itertools

import numpy as np
import pytest

from minigen.data import get_dataset
from minigen.data.toy import eight_gaussians_means, make_8gaussians
from minigen.metrics import (c2st, digits_classifier, digits_features, fid, frechet_distance, kid,
                             memorisation, mmd2_unbiased, modes_covered, parse_metrics, parzen,
                             parzen_log_prob, precision_recall, roc_auc, sample_metrics,
                             trace_sqrt_product)
from minigen.metrics.distances import gaussian_kernel


def random_spd(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T + 0.1 * np.eye(d)


def test_trace_sqrt_product_matches_the_2x2_closed_form():
    """For 2x2 PSD matrices sqrt(M) = (M + sqrt(det M) I) / sqrt(tr M + 2 sqrt(det M)), so
    tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)), for non-commuting S1, S2 too."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        S1, S2 = random_spd(rng, 2), random_spd(rng, 2)
        assert not np.allclose(S1 @ S2, S2 @ S1)
        closed = np.sqrt(np.trace(S1 @ S2) + 2 * np.sqrt(np.linalg.det(S1) * np.linalg.det(S2)))
        assert trace_sqrt_product(S1, S2) == pytest.approx(closed, rel=1e-10)


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(1)
    d1, d2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)        # commuting (diagonal) covariances
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2)) == pytest.approx(closed, rel=1e-10)
    S = random_spd(rng, 6)
    assert frechet_distance(mu1, S, mu1, S) == pytest.approx(0, abs=1e-9)
    singular = np.diag([1.0, 0.0, 0.0, 2.0, 0.0, 1.0])               # rank-deficient: still real, >= 0
    assert frechet_distance(mu1, singular, mu1, singular) == pytest.approx(0, abs=1e-9)
    # samples of the two Gaussians: the estimate approaches the closed form
    x = mu1 + np.sqrt(d1) * rng.standard_normal((200000, 6))
    y = mu2 + np.sqrt(d2) * rng.standard_normal((200000, 6))
    assert fid(x, y) == pytest.approx(closed, rel=0.02)


def test_mmd_estimator_is_the_double_sum_and_unbiased():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 0.5
    k = gaussian_kernel(1.3)
    brute = (sum(k(x[i:i + 1], x[j:j + 1])[0, 0] for i, j in itertools.permutations(range(7), 2)) / 42
             + sum(k(y[i:i + 1], y[j:j + 1])[0, 0] for i, j in itertools.permutations(range(5), 2)) / 20
             - 2 * k(x, y).mean())
    assert mmd2_unbiased(x, y, k) == pytest.approx(brute, rel=1e-12)
    same = [mmd2_unbiased(rng.standard_normal((20, 3)), rng.standard_normal((20, 3)), k) for _ in range(300)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(300)     # mean 0: unbiased


def test_roc_auc_counts_pairs_with_ties():
    rng = np.random.default_rng(3)
    scores, labels = rng.integers(0, 5, 40).astype(float), rng.integers(0, 2, 40)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert roc_auc(scores, labels) == pytest.approx(pairs)


def test_c2st_tells_different_sets_apart_and_not_equal_ones():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((400, 5)), rng.standard_normal((400, 5))
    assert abs(c2st(a, b, steps=150)["auc"] - 0.5) < 0.1
    assert c2st(a, b + 1.0, steps=150)["auc"] > 0.85


def test_precision_recall_of_a_set_against_itself_and_a_collapsed_one():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    collapsed = x[np.arange(300) % 5] + 0.01 * rng.standard_normal((300, 4))        # a few modes only: precise, no recall
    p, r = precision_recall(x, collapsed)
    assert p > 0.9 and r < 0.3


def test_memorisation_flags_copies_and_passes_held_out_data():
    train, val, test = (get_dataset("digits", s, view="scaled").x for s in ("train", "val", "test"))
    copies = memorisation(train[np.random.default_rng(0).integers(0, 1000, 300)], train, test)
    assert copies["flagged"] and copies["fraction_close"] == 1.0
    honest = memorisation(val, train, test)
    assert not honest["flagged"] and honest["fraction_close"] < 0.15


def test_parzen_log_prob_and_bandwidth():
    rng = np.random.default_rng(6)
    s, x = rng.standard_normal((50, 2)), rng.standard_normal((4, 2))
    sigma = 0.7
    direct = np.log(np.mean(np.exp(-((x[:, None] - s[None]) ** 2).sum(-1) / (2 * sigma ** 2)), axis=1)
                    / (2 * np.pi * sigma ** 2))
    np.testing.assert_allclose(parzen_log_prob(x, s, sigma), direct, rtol=1e-10)
    result = parzen(rng.standard_normal((500, 2)), rng.standard_normal((200, 2)), rng.standard_normal((200, 2)),
                    sigmas=(0.01, 0.3, 10.0))
    assert result["sigma"] == 0.3


def test_modes_covered_on_the_ring():
    rng = np.random.default_rng(7)
    x, _ = make_8gaussians(2000, rng)
    means, std = eight_gaussians_means(), 0.5 / np.sqrt(2)
    assert modes_covered(x, means, std)["modes"] == 8
    one = means[3] + std * rng.standard_normal((2000, 2))
    assert modes_covered(one, means, std)["modes"] == 1


@pytest.fixture(scope="module")
def quick_classifier(tmp_path_factory):
    """The classifier of the metrics trained for 3 epochs into a temporary cache (seconds)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MINIGEN_CACHE", str(tmp_path_factory.mktemp("cache")))
    model, info = digits_classifier(epochs=3)
    assert info["test_accuracy"] > 0.5
    again, _ = digits_classifier(epochs=3)                        # cached: the same object
    assert again is model
    mp.undo()
    return model


def test_fid_is_zero_on_identical_sets_and_grows_with_noise(quick_classifier):
    test = get_dataset("digits", "test", view="scaled").x
    rng = np.random.default_rng(8)
    feats = lambda x: digits_features(x, classifier=quick_classifier)  # noqa: E731
    real = feats(test)
    assert fid(real, real) == pytest.approx(0, abs=1e-8)
    fids, kids = [], []
    for sigma in (0.05, 0.15, 0.3, 0.6):
        noisy = feats(np.clip(test + sigma * rng.standard_normal(test.shape), 0, 1))
        fids.append(fid(real, noisy))
        kids.append(kid(real, noisy, subsets=20, subset_size=200)[0])
    assert np.all(np.diff(fids) > 0) and np.all(np.diff(kids) > 0), (fids, kids)


def test_sample_metrics_suite_on_raw_levels(quick_classifier):
    test, train = get_dataset("digits", "test"), get_dataset("digits", "train")
    out = sample_metrics(train.x[:300], test, names=parse_metrics("fid,precision,recall,c2st,memorisation"),
                         train=train, num_levels=17, classifier=quick_classifier)
    assert set(out) == {"fid", "precision", "recall", "c2st_auc", "c2st_accuracy", "memorised"}
    assert out["memorised"] == 1.0                                 # these are training images
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metrics("fid,isc")


def test_c2st_trains_under_no_grad():
    """A model's report runs under no_grad; the test's classifier still trains."""
    from autograd import no_grad
    rng = np.random.default_rng(9)
    with no_grad():
        assert c2st(rng.standard_normal((100, 3)), rng.standard_normal((100, 3)) + 2, steps=50)["auc"] > 0.9


def test_eval_metrics_on_a_run(quick_classifier, tmp_path, monkeypatch, capsys):
    """python -m minigen eval RUN --metrics ...: samples of the run's model against the test split."""
    import json

    import minigen
    from minigen.cli import main
    from minigen.metrics import features
    monkeypatch.setattr(features, "digits_classifier", lambda *a, **k: (quick_classifier, {}))
    run = str(tmp_path / "independent")
    minigen.train("independent", "digits-reference", out=run, progress=False, figures=False)
    assert main(["eval", run, "--metrics", "fid,kid,precision,recall,c2st", "--n", "300"]) == 0
    assert "c2st_auc" in capsys.readouterr().out
    with open(tmp_path / "independent" / "metrics_test.json") as f:
        report = json.load(f)
    assert report["samples"] == 300 and report["c2st_auc"] > 0.6 and report["fid"] > 0
    assert main(["eval", run, "--metrics", "fid,isc"]) == 2                      # an unknown metric
