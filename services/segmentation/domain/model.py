"""Training the probability-of-payment model from a tenant's own account histories.

Rows are (account, snapshot) pairs: features as of the snapshot, label = paid
within 30 days after it. The held-out split is by account, so an account's
rows never sit on both sides and the reported AUC is not flattered by leakage.
A calibrated logistic regression (CalibratedClassifierCV, sigmoid) turns the
features into probabilities that can be multiplied by money.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from services.segmentation.domain.scoring import (
    FEATURES,
    LABEL_WINDOW_DAYS,
    AccountHistory,
    features_as_of,
    paid_within,
)

MIN_TRAINING_ROWS = 200
MIN_ROWS_PER_CLASS = 20
"""Below these a tenant keeps the rule-based fallback score (docs/segmentation.md)."""
TEST_SHARE = 0.25


class NotEnoughHistory(ValueError):
    """The tenant's data cannot support a model yet; the fallback score stays in use."""


@dataclass(frozen=True)
class TrainingSet:
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    snapshots: tuple[date, ...]


@dataclass(frozen=True)
class TrainedModel:
    estimator: Any
    auc: float
    n_train: int
    n_test: int
    positive_rate: float
    features: tuple[str, ...]
    snapshots: tuple[date, ...]


def snapshot_dates(as_of: date, count: int, spacing_days: int = LABEL_WINDOW_DAYS) -> tuple[date, ...]:
    """Snapshots whose 30-day label window has fully elapsed by ``as_of``, newest first."""
    first = as_of - timedelta(days=LABEL_WINDOW_DAYS)
    return tuple(first - timedelta(days=spacing_days * k) for k in range(count))


def build_training_set(histories: Iterable[AccountHistory], snapshots: Sequence[date]) -> TrainingSet:
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[str] = []
    for history in histories:
        first = history.first_issued_on()
        if first is None:
            continue
        for snapshot in snapshots:
            if first > snapshot:
                continue
            features = features_as_of(history, snapshot)
            rows.append([features[name] for name in FEATURES])
            labels.append(1 if paid_within(history, snapshot) else 0)
            groups.append(history.account_id)
    return TrainingSet(
        X=np.asarray(rows, dtype=float).reshape(-1, len(FEATURES)),
        y=np.asarray(labels, dtype=int),
        groups=np.asarray(groups),
        snapshots=tuple(snapshots),
    )


def train(data: TrainingSet, *, seed: int = 0) -> TrainedModel:
    n = len(data.y)
    positives = int(data.y.sum())
    if n < MIN_TRAINING_ROWS or min(positives, n - positives) < MIN_ROWS_PER_CLASS:
        raise NotEnoughHistory(
            f"{n} training rows ({positives} paid, {n - positives} not paid); need at least "
            f"{MIN_TRAINING_ROWS} rows and {MIN_ROWS_PER_CLASS} of each outcome"
        )
    split = GroupShuffleSplit(n_splits=1, test_size=TEST_SHARE, random_state=seed)
    train_idx, test_idx = next(split.split(data.X, data.y, data.groups))
    y_train, y_test = data.y[train_idx], data.y[test_idx]
    if len(set(y_test.tolist())) < 2 or len(set(y_train.tolist())) < 2:
        raise NotEnoughHistory("the held-out split does not contain both outcomes")
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator = CalibratedClassifierCV(base, method="sigmoid", cv=3)
    estimator.fit(data.X[train_idx], y_train)
    proba = estimator.predict_proba(data.X[test_idx])[:, 1]
    return TrainedModel(
        estimator=estimator,
        auc=float(roc_auc_score(y_test, proba)),
        n_train=len(train_idx),
        n_test=len(test_idx),
        positive_rate=positives / n,
        features=FEATURES,
        snapshots=data.snapshots,
    )


def predict(estimator: Any, features: dict[str, float], names: Sequence[str] = FEATURES) -> float:
    row = np.asarray([[features[name] for name in names]], dtype=float)
    return round(float(estimator.predict_proba(row)[0, 1]), 4)


def predict_many(
    estimator: Any, rows: Sequence[dict[str, float]], names: Sequence[str] = FEATURES
) -> list[float]:
    """One ``predict_proba`` call for many accounts (rescoring a whole portfolio)."""
    if not rows:
        return []
    matrix = np.asarray([[r[name] for name in names] for r in rows], dtype=float)
    return [round(float(p), 4) for p in estimator.predict_proba(matrix)[:, 1]]
