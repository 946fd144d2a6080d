"""Spread calibration: a monotone map per dimension that undoes a regressor's shrinkage to the mean.

A Random Forest averages many leaves, so its predictions cluster around the training mean: on
unseen 4Q artists their standard deviation is about half the targets'. :class:`SpreadCalibration`
is fitted on *out-of-fold* predictions (never on clips the regressor was fitted on, whose
predictions are too good) against their targets, and stretches each dimension back to the spread
of the targets while keeping the order of the predictions:

- ``"linear"``: ``t_mean + (p − p_mean) · t_std / p_std`` — the same mean and standard deviation
  as the targets, the shape of the predictions' distribution kept, extrapolated linearly;
- ``"quantile"``: each prediction is sent to the target value of the same rank (quantile
  mapping on :data:`N_QUANTILES` knots, interpolated linearly, constant beyond the ends) — the
  targets' whole distribution, not only their spread.

Spreading predictions that are only partly right costs squared error (the mean is the MSE-optimal
guess when unsure), in return for songs that use the whole valence/arousal plane.
"""

from __future__ import annotations

import numpy as np

METHODS = ("linear", "quantile")
#: Knots of the quantile map (evenly spaced ranks, ends included).
N_QUANTILES = 41


class SpreadCalibration:
    """Per-dimension, order-preserving map from predictions to the targets' spread.

    Parameters
    ----------
    method : {"linear", "quantile"}
        Linear stretch to the targets' mean and standard deviation, or quantile mapping.

    Attributes
    ----------
    knots_ : list of (x, y) arrays
        Per dimension, the piecewise-linear map through the points ``(x[i], y[i])`` (``x``
        strictly increasing); ``linear`` maps have two knots and are extrapolated linearly,
        ``quantile`` maps are constant beyond their ends.
    """

    def __init__(self, method: str = "linear"):
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")
        self.method = method

    def fit(self, predictions: np.ndarray, targets: np.ndarray) -> SpreadCalibration:
        """Fit on out-of-fold ``predictions`` and their ``targets``, both ``(n, n_dims)``."""
        P, T = _as_2d(predictions), _as_2d(targets)
        if P.shape != T.shape or len(P) < 2:
            raise ValueError(
                f"need at least two predictions and targets of the same shape, got {P.shape} and {T.shape}"
            )
        self.knots_ = []
        for p, t in zip(P.T, T.T):
            if self.method == "linear":
                if p.std() <= 0:
                    raise ValueError("the predictions are constant: nothing to stretch")
                x = np.array([p.mean() - p.std(), p.mean() + p.std()])
                y = np.array([t.mean() - t.std(), t.mean() + t.std()])
            else:
                ranks = np.linspace(0.0, 1.0, N_QUANTILES)
                x, y = np.quantile(p, ranks), np.quantile(t, ranks)
                keep = np.concatenate([[True], np.diff(x) > 1e-9])  # ties in the predictions: one knot
                x, y = x[keep], y[keep]
                if len(x) < 2:
                    raise ValueError("the predictions are constant: nothing to stretch")
            self.knots_.append((x, y))
        return self

    def transform(self, predictions: np.ndarray) -> np.ndarray:
        """Calibrated predictions, same shape as ``predictions``; order within each dimension kept."""
        P = _as_2d(predictions)
        if P.shape[1] != len(self.knots_):
            raise ValueError(f"expected {len(self.knots_)} dimensions, got {P.shape[1]}")
        out = np.empty_like(P)
        for j, (x, y) in enumerate(self.knots_):
            if self.method == "linear":
                out[:, j] = y[0] + (P[:, j] - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
            else:
                out[:, j] = np.interp(P[:, j], x, y)
        return out.reshape(np.shape(predictions))

    def to_dict(self) -> dict:
        """JSON-serialisable parameters (:meth:`from_dict` restores them)."""
        return {"method": self.method, "knots": [{"x": x.tolist(), "y": y.tolist()} for x, y in self.knots_]}

    @classmethod
    def from_dict(cls, d: dict) -> SpreadCalibration:
        """A fitted calibration from :meth:`to_dict`'s output; raises ValueError if it is malformed."""
        try:
            cal = cls(d["method"])
            cal.knots_ = [(np.asarray(k["x"], dtype=float), np.asarray(k["y"], dtype=float)) for k in d["knots"]]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed calibration: {exc}") from None
        for x, y in cal.knots_:
            if x.ndim != 1 or x.shape != y.shape or len(x) < 2 or np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
                raise ValueError("malformed calibration: knots must be increasing and of equal length")
        return cal

    def scale(self) -> np.ndarray:
        """Average slope of each dimension's map over its knots (the stretch factor, > 1 spreads)."""
        return np.array([(y[-1] - y[0]) / (x[-1] - x[0]) for x, y in self.knots_])


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[:, None] if a.ndim == 1 else a
