"""Training the payment model on a small synthetic portfolio, and refusing too little history."""

from __future__ import annotations

from datetime import date

import pytest

from services.segmentation.domain.model import (
    MIN_TRAINING_ROWS,
    NotEnoughHistory,
    build_training_set,
    predict,
    snapshot_dates,
    train,
)
from services.segmentation.domain.scoring import FEATURES, features_as_of
from services.segmentation.domain.synthetic import generate_portfolio

END = date(2026, 6, 30)


def test_model_trained_on_synthetic_history_beats_chance_on_held_out_accounts() -> None:
    portfolio = generate_portfolio(400, date(2025, 1, 1), END, seed=11)
    data = build_training_set([a.history for a in portfolio], snapshot_dates(END, 3))
    assert data.X.shape == (len(data.y), len(FEATURES))
    assert 0.3 < data.y.mean() < 0.95  # both outcomes well represented
    model = train(data, seed=0)
    assert model.auc > 0.6
    assert model.n_test > 0 and model.n_train > model.n_test
    # calibrated probabilities: a reliable payer scores above a silent, delinquent one
    payer = max(portfolio, key=lambda a: sum(p.on_time for p in a.history.payments))
    silent = min(portfolio, key=lambda a: len(a.history.payments))
    p_payer = predict(model.estimator, features_as_of(payer.history, END))
    p_silent = predict(model.estimator, features_as_of(silent.history, END))
    assert 0 <= p_silent < p_payer <= 1


def test_snapshots_leave_a_full_label_window() -> None:
    assert snapshot_dates(END, 3) == (date(2026, 5, 31), date(2026, 5, 1), date(2026, 4, 1))


def test_too_little_history_keeps_the_fallback() -> None:
    portfolio = generate_portfolio(20, date(2025, 1, 1), END, seed=3)
    data = build_training_set([a.history for a in portfolio], snapshot_dates(END, 2))
    assert len(data.y) < MIN_TRAINING_ROWS
    with pytest.raises(NotEnoughHistory, match="need at least 200 rows"):
        train(data)
