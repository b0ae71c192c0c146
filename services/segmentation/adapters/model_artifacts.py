"""Segmentation model artifacts in a format that cannot run code when loaded.

Artifacts used to be joblib (pickle) bytes read back from the ``models`` table or a
file: whoever could write either could execute code in the segmentation process.
They are now skops archives, loaded with an explicit list of trusted types: skops
only rebuilds those classes (plus the numpy/sklearn primitives it trusts by
default) and refuses anything else, so a tampered or foreign artifact is rejected
with ``UntrustedArtifact`` before a single object of it is built.
"""

from __future__ import annotations

import zipfile
from typing import Any

import skops.io as sio

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
)
"""The classes ``domain.model.train`` builds; widen it (reviewed) if the estimator changes."""

SUFFIX = ".skops"


class UntrustedArtifact(ValueError):
    """The artifact is not a skops archive, or it names a type outside ``TRUSTED_TYPES``."""


def dump_model(estimator: Any) -> bytes:
    return sio.dumps(estimator)


def load_model(artifact: bytes) -> Any:
    """The estimator in ``artifact``, or ``UntrustedArtifact`` (never unpickles)."""
    try:
        untrusted = [t for t in sio.get_untrusted_types(data=artifact) if t not in TRUSTED_TYPES]
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UntrustedArtifact(
            f"segmentation model artifact refused: not a skops archive ({type(exc).__name__}); "
            "retrain with `cobranza segments train` to replace a legacy joblib/pickle artifact"
        ) from exc
    if untrusted:
        raise UntrustedArtifact(
            "segmentation model artifact refused: it contains types outside the trusted list: "
            + ", ".join(sorted(untrusted))
        )
    try:
        return sio.loads(artifact, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several kinds on a malformed archive
        raise UntrustedArtifact(f"segmentation model artifact refused: {exc}") from exc
