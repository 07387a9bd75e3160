"""Classical density estimation that is not a registered model: the course's first chapter.

    inversion.py    inversion sampling: the exponential's inverse CDF, a tabulated inverse for
                    any 1-D density on a grid, several dimensions by successive conditionals,
                    and the Kolmogorov-Smirnov statistic that tests them
    histogram.py    histograms; the bin width that minimises the cross-validation risk
                    estimate J(h) (Wasserman, All of Statistics, §20.2); the MISE rate n^(-2/3)
    knn.py          the k-nearest-neighbour density k / (n V_d R_k(x)^d), which does not
                    integrate to one
    neural_cdf.py   neural CDF regression (Magdon-Ismail & Atiya 1998): an MLP F(x) fitted to
                    the empirical CDF, its density dF/dx taken by minigen's autograd

The design: these are functions (and one small Module) on NumPy arrays, for 1-D and 2-D
pictures and for teaching. The estimators that run on the digits through the run layer --
kernel density estimation (``kde``) and Gaussian mixtures by EM (``gmm``) -- are registered
models in ``minigen/models/classical/`` (``kde.py``, ``gmm.py``); their functions
(``kde_log_density``, ``bandwidth_rule``, ``loo_log_likelihood``, ``kmeans_plus_plus``,
``select_order``) are importable from there. ``examples/05_classical_density.py`` draws them all.
"""
from .histogram import Histogram, choose_bin_width, cv_risk, cv_risk_by_definition, mise_rate
from .inversion import (GridSampler, TabulatedInverse, exponential_inverse_cdf, ks_statistic,
                        sample_exponential)
from .knn import knn_density, unit_ball_volume
from .neural_cdf import NeuralCDF

__all__ = ["Histogram", "cv_risk", "cv_risk_by_definition", "choose_bin_width", "mise_rate", "GridSampler", "TabulatedInverse",
           "exponential_inverse_cdf", "sample_exponential", "ks_statistic", "knn_density",
           "unit_ball_volume", "NeuralCDF"]
