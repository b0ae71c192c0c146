"""Train the probability-of-payment model on a SYNTHETIC portfolio and report held-out AUC.

The portfolio is generated (services/segmentation/domain/synthetic.py), not real
data. With ``--via-db`` the history is stored in segmentation's tables on an
embedded Postgres and trained through the same code path as
``cobranza segments train``; otherwise the domain functions are called directly.

    .venv/bin/python bench/segmentation_train.py --accounts 5000 --months 18
    .venv/bin/python bench/segmentation_train.py --accounts 2000 --via-db
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from services.segmentation.domain.model import TEST_SHARE, build_training_set, snapshot_dates, train
from services.segmentation.domain.scoring import FEATURES, fallback_probability
from services.segmentation.domain.synthetic import generate_portfolio


def _month_end(start: date, months: int) -> date:
    """The last day of the ``months``-th month after ``start``'s."""
    y, m = divmod(start.month - 1 + months, 12)
    return date(start.year + y, m + 1, 1) - timedelta(days=1)


def run_domain(args: argparse.Namespace) -> None:
    start = date(2025, 1, 1)
    end = _month_end(start, args.months)
    t0 = time.perf_counter()
    portfolio = generate_portfolio(args.accounts, start, end, seed=args.seed)
    t1 = time.perf_counter()
    data = build_training_set([a.history for a in portfolio], snapshot_dates(end, args.snapshots))
    t2 = time.perf_counter()
    model = train(data, seed=args.seed)
    t3 = time.perf_counter()
    # the fallback rule of thumb on the same held-out accounts, for comparison
    split = GroupShuffleSplit(n_splits=1, test_size=TEST_SHARE, random_state=args.seed)
    _, test_idx = next(split.split(data.X, data.y, data.groups))
    fallback = np.array(
        [fallback_probability(dict(zip(FEATURES, row, strict=True))) for row in data.X[test_idx]]
    )
    fallback_auc = roc_auc_score(data.y[test_idx], fallback)
    print("SYNTHETIC portfolio (generated, not real data)")
    print(f"accounts={args.accounts} months={args.months} history {start}..{end} snapshots={args.snapshots}")
    print(
        f"rows={len(data.y)} train={model.n_train} test={model.n_test} paid_within_30d={model.positive_rate:.1%}"
    )
    print(f"model AUC (held-out accounts) = {model.auc:.3f}")
    print(f"fallback rule AUC (same rows) = {fallback_auc:.3f}")
    print(f"timings: generate {t1 - t0:.1f}s, features {t2 - t1:.1f}s, fit {t3 - t2:.1f}s")


def run_db(args: argparse.Namespace) -> None:
    from libs.platform.databases import fresh_database
    from libs.platform.embedded import EmbeddedPostgres
    from libs.platform.registry import load_spec
    from libs.runtime.context import ServiceContext
    from services.segmentation.adapters.synthetic_load import load_portfolio
    from services.segmentation.service_layer.commands import rescore_all, train_model

    start = date(2025, 1, 1)
    end = _month_end(start, args.months)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "pgdata", ephemeral=True)
    server = pg.start()
    try:
        spec = load_spec("segmentation")
        url = fresh_database(server, [spec], "bench_segmentation")
        ctx = ServiceContext.create(spec, url)
        now = datetime(end.year, end.month, end.day, 12, tzinfo=UTC)
        t0 = time.perf_counter()
        with ctx.unit_of_work() as uow:
            load_portfolio(
                uow.session, generate_portfolio(args.accounts, start, end, seed=args.seed), uow.tenant, now
            )
        t1 = time.perf_counter()
        with ctx.unit_of_work() as uow:
            report = train_model(
                uow.session, uow.tenant, now=now, as_of=end, snapshots=args.snapshots, out_dir=Path(args.out)
            )
            t2 = time.perf_counter()
            moved = rescore_all(uow)
        t3 = time.perf_counter()
        ctx.dispose()
    finally:
        pg.stop()
    m = report.model
    print("SYNTHETIC portfolio (generated, not real data), trained through segmentation's tables")
    print(f"accounts={args.accounts} rows={m.n_train + m.n_test} model v{report.version} AUC={m.auc:.3f}")
    print(f"saved {report.path}; rescored {args.accounts} accounts, {moved} segment changes")
    print(f"timings: load {t1 - t0:.1f}s, train {t2 - t1:.1f}s, rescore+resegment {t3 - t2:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--snapshots", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--via-db", action="store_true")
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="cobranza-models-"))
    args = parser.parse_args()
    (run_db if args.via_db else run_domain)(args)


if __name__ == "__main__":
    main()
