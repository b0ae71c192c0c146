"""Segmenting accounts, activating rule sets, previews and training: what handlers, API and CLI call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.segments import SegmentChanged, SegmentReason
from libs.runtime.uow import UnitOfWork
from services.segmentation.adapters import repository as repo
from services.segmentation.adapters.model_artifacts import SUFFIX as ARTIFACT_SUFFIX
from services.segmentation.adapters.model_artifacts import dump_model
from services.segmentation.adapters.orm import accounts, models, rule_sets
from services.segmentation.domain.model import (
    NotEnoughHistory,
    TrainedModel,
    build_training_set,
    predict_many,
    snapshot_dates,
    train,
)
from services.segmentation.domain.profiles import Profiles, local_today
from services.segmentation.domain.rules import RuleSet, parse_rules, parse_rules_yaml
from services.segmentation.domain.scoring import LABEL_WINDOW_DAYS, fallback_probability, features_as_of
from services.segmentation.domain.segmenting import Assignment, Batch, PreviewMatrix, assign, preview

PACKAGED_RULES = Path(__file__).resolve().parent.parent / "config" / "segments.yaml"
RULES_FILE = "segments.yaml"
LABEL = f"paid: at least one payment received in the {LABEL_WINDOW_DAYS} days after the snapshot date"

_PARSED: dict[str, RuleSet] = {}


def rules_file(config_dir: Path | str | None) -> Path:
    """``<config_dir>/segments.yaml`` when the deployment (or the simulator) provides one."""
    if config_dir:
        candidate = Path(config_dir) / RULES_FILE
        if candidate.is_file():
            return candidate
    return PACKAGED_RULES


def _cached(document: dict[str, Any], checksum: str) -> RuleSet:
    if checksum not in _PARSED:
        _PARSED[checksum] = parse_rules(document)
    return _PARSED[checksum]


def active_rules(uow: UnitOfWork) -> RuleSet:
    """The tenant's active rule set; the first time, the configured file becomes version one.

    Its checksum is read first: a document parsed before is not read (nor parsed) again.
    """
    checksum = repo.active_rule_checksum(uow.session, uow.tenant)
    if checksum is not None and checksum in _PARSED:
        return _PARSED[checksum]
    row = repo.active_rule_row(uow.session, uow.tenant)
    if row is not None:
        return _cached(row.document, row.checksum)
    path = rules_file(uow.extras.get("config_dir"))
    rules = parse_rules_yaml(path.read_text(encoding="utf-8"))
    existing = repo.rule_row(uow.session, uow.tenant, rules.version)
    if existing is None:
        uow.session.execute(
            insert(rule_sets).values(
                tenant_id=uow.tenant,
                version=rules.version,
                document=rules.document,
                checksum=rules.checksum,
                source=str(path)[-300:],
                created_at=uow.now(),
                activated_at=uow.now(),
                active=True,
            )
        )
    else:
        uow.session.execute(
            update(rule_sets)
            .where(rule_sets.c.tenant_id == uow.tenant, rule_sets.c.version == rules.version)
            .values(active=True, activated_at=uow.now())
        )
        return _cached(existing.document, existing.checksum)
    return rules


def score_many(
    session: Session, tenant: str, features: Sequence[dict[str, float]]
) -> tuple[list[float], str]:
    """Probabilities of payment of many accounts: ONE ``predict_proba`` over their feature matrix
    with the tenant's model, or the fallback rule of thumb when it has none."""
    model = repo.active_model(session, tenant)
    if model is None:
        return [fallback_probability(f) for f in features], "fallback"
    version, estimator, names = model
    return predict_many(estimator, features, names), f"model:v{version}"


@dataclass(frozen=True)
class _Outcome:
    account_id: str
    previous: str | None
    """the segment the account had before this assignment"""
    assignment: Assignment
    score: float | None
    score_source: str | None
    reasons: list[dict[str, Any]]
    """the reason as stored (``accounts.reasons``, ``segment_history.reasons``) and announced"""
    cause: Envelope | None = None
    """the event of a batch the assignment answers (None: the unit of work's own)"""


_CHECKED_RULES: set[tuple[str, str | None]] = set()


def _reason(assignment: Assignment) -> dict[str, Any]:
    """``SegmentReason(...).model_dump(mode="json")`` without a model per assignment.

    The rule name and description are validated as the contract's labels once per process; the
    attributes are already JSON values (``Assignment.reason_attributes``), which the model keeps
    as they are.
    """
    description = assignment.description or None
    key = (assignment.rule, description)
    if key not in _CHECKED_RULES:
        SegmentReason(rule=assignment.rule, description=description)
        _CHECKED_RULES.add(key)
    return {"rule": assignment.rule, "description": description, "attributes": assignment.reason_attributes()}


def _outcome(
    account_id: str,
    previous: str | None,
    assignment: Assignment,
    score: float | None,
    source: str | None,
    cause: Envelope | None = None,
) -> _Outcome:
    return _Outcome(account_id, previous, assignment, score, source, [_reason(assignment)], cause)


_WRITE_HISTORY = text(
    """
    INSERT INTO segmentation.segment_history
        (tenant_id, account_id, segment, previous_segment, rule, rules_version, reasons, changed_at)
    SELECT :tenant, r->>0, r->>1, r->>2, r->>3, :version, r->4, :at
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS e(r, n)
    ORDER BY n
    """
)
"""The moves of a batch in one statement, one JSON parameter, ids in the order of the moves."""


def _announce(uow: UnitOfWork, outcomes: Sequence[_Outcome], rules: RuleSet) -> int:
    """Record history and emit ``segment.changed`` for the outcomes that moved an account, in order.

    One multi-row history insert and one outbox insert, each event with its cause. Returns how
    many assignments changed segment (first assignments included).
    """
    now = uow.now()
    history: list[list[Any]] = []
    payloads: list[SegmentChanged] = []
    causes: list[Envelope | None] = []
    for outcome in outcomes:
        assignment = outcome.assignment
        if outcome.previous == assignment.segment:
            continue
        history.append(
            [outcome.account_id, assignment.segment, outcome.previous, assignment.rule, outcome.reasons]
        )
        payloads.append(
            SegmentChanged(
                account_id=outcome.account_id,
                segment=assignment.segment,
                previous_segment=outcome.previous,
                reasons=outcome.reasons,  # type: ignore[arg-type]  # validated into SegmentReason
            )
        )
        causes.append(outcome.cause)
    if history:
        uow.session.execute(
            _WRITE_HISTORY,
            {
                "tenant": uow.tenant,
                "version": rules.version,
                "at": now,
                "rows": json.dumps(history, separators=(",", ":")),
            },
        )
        uow.emit_many(payloads, causes=causes)
    return len(history)


def _apply_all(uow: UnitOfWork, outcomes: list[_Outcome], rules: RuleSet) -> int:
    """Store assignments of whole accounts in bulk (activation, rescoring); announce the moves."""
    if not outcomes:
        return 0
    uow.session.connection().execute(
        update(accounts)
        .where(accounts.c.tenant_id == uow.tenant, accounts.c.account_id == bindparam("b_account"))
        .values(
            segment=bindparam("b_segment"),
            segment_rule=bindparam("b_rule"),
            reasons=bindparam("b_reasons", type_=JSONB),
            score=bindparam("b_score", type_=accounts.c.score.type),
            score_source=bindparam("b_source", type_=accounts.c.score_source.type),
            rules_version=rules.version,
            segmented_at=uow.now(),
        ),
        [
            {
                "b_account": o.account_id,
                "b_segment": o.assignment.segment,
                "b_rule": o.assignment.rule,
                "b_reasons": o.reasons,
                "b_score": o.score,
                "b_source": o.score_source,
            }
            for o in outcomes
        ],
    )
    return _announce(uow, outcomes, rules)


def _unchanged_score(row: Any, assignment: Assignment) -> _Outcome:
    return _outcome(
        row.account_id,
        row.segment,
        assignment,
        float(row.score) if row.score is not None else None,
        row.score_source,
    )


def segment_steps(uow: UnitOfWork, profiles: Profiles) -> int:
    """Score and segment every re-segmentation a batch's events asked for, in their order.

    The features of all steps go through one scoring call and the rules through one column-wise
    evaluation (``segmenting.Batch``); the assignments are then walked in one pass, each step
    seeing the segment the previous step of its account left, so a batch announces exactly the
    moves (and causes) one event at a time would. Reasons are built only for the steps announced
    and for each account's last step (stored on its row). The accounts' segment columns are set on
    ``profiles`` (written back with the rest); returns the moves.
    """
    steps = profiles.steps
    if not steps:
        return 0
    scores, source = score_many(uow.session, uow.tenant, [s.features for s in steps])
    rules = active_rules(uow)
    batch = Batch(rules, [(s.state, s.today) for s in steps], scores)
    last = {step.account_id: i for i, step in enumerate(steps)}
    outcomes: list[_Outcome] = []
    for i, (step, probability) in enumerate(zip(steps, scores, strict=True)):
        segment = batch.segment(i)
        row = profiles.accounts[step.account_id]
        previous, row["segment"] = row["segment"], segment
        final = last[step.account_id] == i
        if previous == segment and not final:
            continue  # neither announced nor the account's last word in this batch: no reason to build
        outcome = _outcome(step.account_id, previous, batch.assignment(i), probability, source, step.cause)
        outcomes.append(outcome)
        if final:
            row.update(
                segment_rule=outcome.assignment.rule,
                reasons=outcome.reasons,
                score=probability,
                score_source=source,
                rules_version=rules.version,
                segmented_at=profiles.now,
            )
            profiles.changed_accounts.add(step.account_id)
    return _announce(uow, outcomes, rules)


@dataclass(frozen=True)
class Activation:
    version: str
    accounts: int
    moved: int
    already_active: bool = False


class RuleVersionConflict(ValueError):
    pass


def activate_rules(uow: UnitOfWork, rules: RuleSet, source: str) -> Activation:
    """Make ``rules`` the tenant's active set and re-segment every account under it."""
    current = repo.active_rule_row(uow.session, uow.tenant)
    existing = repo.rule_row(uow.session, uow.tenant, rules.version)
    if existing is not None and existing.checksum != rules.checksum:
        raise RuleVersionConflict(
            f"version {rules.version!r} already exists with different content; give the new rules a new version"
        )
    if current is not None and current.version == rules.version:
        return Activation(rules.version, 0, 0, already_active=True)
    repo.deactivate_rules(uow.session, uow.tenant)
    if existing is None:
        uow.session.execute(
            insert(rule_sets).values(
                tenant_id=uow.tenant,
                version=rules.version,
                document=rules.document,
                checksum=rules.checksum,
                source=source[-300:],
                created_at=uow.now(),
                activated_at=uow.now(),
                active=True,
            )
        )
    else:
        uow.session.execute(
            update(rule_sets)
            .where(rule_sets.c.tenant_id == uow.tenant, rule_sets.c.version == rules.version)
            .values(active=True, activated_at=uow.now())
        )
    rows = repo.tenant_account_rows(uow.session, uow.tenant)
    outcomes = [
        _unchanged_score(row, assign(repo.state_from_row(row), local_today(uow.now(), row.timezone), rules))
        for row in rows
    ]
    return Activation(rules.version, len(outcomes), _apply_all(uow, outcomes, rules))


def preview_rules(session: Session, tenant: str, candidate: RuleSet, now: Any) -> PreviewMatrix:
    rows = repo.tenant_account_rows(session, tenant)
    return preview(
        ((repo.state_from_row(r), r.segment, local_today(now, r.timezone)) for r in rows), candidate
    )


def rescore_all(uow: UnitOfWork) -> int:
    """Rescore every account with the active model (after training) and re-segment; returns moves."""
    rules = active_rules(uow)
    histories = repo.load_histories(uow.session, None, uow.tenant)
    rows = list(repo.tenant_account_rows(uow.session, uow.tenant))
    days = [local_today(uow.now(), row.timezone) for row in rows]
    features = [features_as_of(histories[row.account_id], day) for row, day in zip(rows, days, strict=True)]
    scores, source = score_many(uow.session, uow.tenant, features)
    outcomes = []
    for row, day, probability in zip(rows, days, scores, strict=True):
        assignment = assign(repo.state_from_row(row), day, rules, probability)
        outcomes.append(_outcome(row.account_id, row.segment, assignment, probability, source))
    return _apply_all(uow, outcomes, rules)


@dataclass(frozen=True)
class TrainingReport:
    version: int
    model: TrainedModel
    path: Path | None


def train_model(
    session: Session,
    tenant: str,
    *,
    now: Any,
    as_of: date,
    snapshots: int = 3,
    out_dir: Path | None = None,
    seed: int = 0,
) -> TrainingReport:
    """Train on the tenant's histories, store the model (file + ``models`` row) and activate it.

    Raises ``NotEnoughHistory`` (and stores nothing) below the documented minimum;
    the tenant then keeps the rule-based fallback score.
    """
    histories = repo.load_histories(session, None, tenant)
    data = build_training_set(histories.values(), snapshot_dates(as_of, snapshots))
    trained = train(data, seed=seed)
    version = repo.next_model_version(session, tenant)
    artifact = dump_model(trained.estimator)
    path = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"segmentation-{tenant}-v{version}{ARTIFACT_SUFFIX}"
        path.write_bytes(artifact)
        path.with_suffix(".json").write_text(
            json.dumps(
                {
                    "tenant": tenant,
                    "version": version,
                    "auc": trained.auc,
                    "features": list(trained.features),
                    "label": LABEL,
                    "snapshots": [d.isoformat() for d in trained.snapshots],
                    "n_train": trained.n_train,
                    "n_test": trained.n_test,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    session.execute(update(models).where(models.c.tenant_id == tenant).values(active=False))
    session.execute(
        insert(models).values(
            tenant_id=tenant,
            version=version,
            trained_at=now,
            auc=trained.auc,
            features=list(trained.features),
            label=LABEL,
            snapshots=[d.isoformat() for d in trained.snapshots],
            n_train=trained.n_train,
            n_test=trained.n_test,
            positive_rate=trained.positive_rate,
            artifact=artifact,
            path=str(path) if path else None,
            active=True,
        )
    )
    return TrainingReport(version, trained, path)


__all__ = [
    "NotEnoughHistory",
    "RuleVersionConflict",
    "activate_rules",
    "active_rules",
    "preview_rules",
    "rescore_all",
    "score_many",
    "segment_steps",
    "train_model",
]
