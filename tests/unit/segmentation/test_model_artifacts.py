"""Model artifacts load without unpickling: foreign types and pickle bytes are refused."""

from __future__ import annotations

import io
import os
import pickle

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from services.segmentation.adapters.model_artifacts import UntrustedArtifact, dump_model, load_model


def _estimator() -> CalibratedClassifierCV:
    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    y = (x[:, 0] > 0.5).astype(int)
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return CalibratedClassifierCV(base, method="sigmoid", cv=3).fit(x, y)


class _Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned",))


def test_round_trip_predicts_the_same() -> None:
    estimator = _estimator()
    loaded = load_model(dump_model(estimator))
    row = np.array([[0.2, 0.4, 0.9]])
    assert loaded.predict_proba(row).tolist() == estimator.predict_proba(row).tolist()


def test_pickle_bytes_are_refused_without_being_run() -> None:
    with pytest.raises(UntrustedArtifact, match="not a skops archive"):
        load_model(pickle.dumps(_Exploit()))
    buffer = io.BytesIO()
    joblib.dump(_estimator(), buffer)
    with pytest.raises(UntrustedArtifact, match="not a skops archive"):
        load_model(buffer.getvalue())


def test_a_skops_archive_with_a_foreign_type_is_refused() -> None:
    from sklearn.tree import DecisionTreeClassifier

    foreign = sio.dumps(DecisionTreeClassifier().fit([[0], [1]], [0, 1]))
    with pytest.raises(UntrustedArtifact, match=r"outside the trusted list: sklearn\.tree"):
        load_model(foreign)


def test_tampered_bytes_are_refused() -> None:
    artifact = bytearray(dump_model(_estimator()))
    artifact[10:40] = b"\x00" * 30
    with pytest.raises(UntrustedArtifact):
        load_model(bytes(artifact))
