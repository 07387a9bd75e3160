"""minigen.metrics: judging samples without a likelihood, for any model of minigen.

    distances.py   FID (Heusel et al. 2017) with a stable matrix square root; MMD with a
                   Gaussian kernel, unbiased (Gretton et al. 2012); KID (Bińkowski et al. 2018)
    manifold.py    precision and recall on k-NN manifolds (Kynkäänniemi et al. 2019); the
                   memorisation check; modes covered on a Gaussian mixture
    c2st.py        the classifier two-sample test (Lopez-Paz & Oquab 2017), held-out ROC AUC
    parzen.py      the Parzen-window log-likelihood of the first GAN papers, with its flaws
    features.py    the feature space: minigen's own digit classifier, trained once and cached
    suite.py       ``sample_metrics``: every metric of one model's samples in one call

The command line: ``python -m minigen eval RUN --metrics fid,precision,recall,kid,c2st``.
Every function takes NumPy arrays (features or images) and returns floats.
"""
from .c2st import c2st, roc_auc
from .distances import fid, frechet_distance, kid, mmd, mmd2_unbiased, sqrtm_psd, trace_sqrt_product
from .features import digits_classifier, digits_features, to_unit
from .manifold import memorisation, modes_covered, precision_recall
from .parzen import parzen, parzen_log_prob
from .suite import DEFAULT_METRICS, METRICS, parse_metrics, sample_metrics

__all__ = ["fid", "frechet_distance", "sqrtm_psd", "trace_sqrt_product", "kid", "mmd", "mmd2_unbiased",
           "precision_recall", "memorisation", "modes_covered", "c2st", "roc_auc", "parzen",
           "parzen_log_prob", "digits_classifier", "digits_features", "to_unit", "sample_metrics",
           "parse_metrics", "METRICS", "DEFAULT_METRICS"]
