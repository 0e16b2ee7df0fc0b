"""Synthetic raw churn data, with the defects a real landing zone has.

Tests, benchmarks and the laptop demo need raw partitions that look like what
an upstream system drops: CSV files per day, some duplicated records, blank
optional fields and a few malformed rows. The label depends on the features
through a known logistic model, so a trained model must actually learn
something (a hold-out AUC well above 0.5) for the tests to pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class GeneratedData:
    partitions: tuple[str, ...]
    rows: int
    bad_rows: int
    duplicate_rows: int


def customer_snapshot(rng: np.random.Generator, customers: int, day: date, label_shift: float = -1.0) -> pd.DataFrame:
    """One clean, typed daily snapshot of ``customers`` customers, with labels drawn from the known model."""
    customer_id = np.arange(1, customers + 1, dtype=np.int64)
    tenure = rng.integers(0, 72, customers)
    contract = rng.choice([1, 12, 24], customers, p=[0.5, 0.3, 0.2])
    charges = np.round(rng.uniform(15.0, 120.0, customers), 2)
    sessions = rng.poisson(12, customers)
    minutes = np.round(rng.gamma(2.0, 6.0, customers), 2)
    idle_days = rng.integers(0, 45, customers)
    tickets = rng.poisson(0.6, customers)
    failures = rng.poisson(0.3, customers)
    logit = (
        label_shift
        - 0.04 * tenure
        - 0.08 * contract
        + 0.015 * charges
        - 0.06 * sessions
        + 0.05 * idle_days
        + 0.5 * tickets
        + 0.8 * failures
    )
    churned = (rng.random(customers) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    seconds = rng.integers(0, 86_400, customers)
    timestamps = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "event_timestamp": timestamps,
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract_months": contract,
            "sessions_30d": sessions,
            "avg_session_minutes": minutes,
            "days_since_last_login": idle_days,
            "support_tickets_30d": tickets,
            "payment_failures_90d": failures,
            "churned": churned,
        }
    )


def _damage(rng: np.random.Generator, frame: pd.DataFrame, bad_fraction: float, blank_fraction: float) -> np.ndarray:
    """Break some rows beyond repair and blank some optional fields; return the broken rows' positions."""
    rows = len(frame)
    bad = rng.choice(rows, int(rows * bad_fraction), replace=False)
    thirds = np.array_split(bad, 3)
    frame.loc[thirds[0], "customer_id"] = "n/a"
    frame.loc[thirds[1], "churned"] = "2"
    frame.loc[thirds[2], "event_timestamp"] = "yesterday"
    blanks = rng.choice(rows, int(rows * blank_fraction), replace=False)
    frame.loc[blanks, "contract_months"] = pd.NA
    frame.loc[blanks[::2], "sessions_30d"] = pd.NA
    return bad


def generate_raw_partitions(
    root: Path,
    *,
    rows: int,
    days: int = 5,
    start: date = date(2026, 11, 1),
    bad_fraction: float = 0.002,
    duplicate_fraction: float = 0.01,
    blank_fraction: float = 0.02,
    label_shift: float = -1.0,
    seed: int = 7,
) -> GeneratedData:
    """Write ``rows`` distinct raw records, plus duplicates, as ``root/date=YYYY-MM-DD/part-0.csv`` (one per day).

    ``label_shift`` moves the churn rate; data generated with another shift is a
    different population, which lets tests make a champion look stale.
    """
    rng = np.random.default_rng(seed)
    customers = rows // days
    partitions, bad_total, duplicate_total = [], 0, 0
    for offset in range(days):
        day = start + timedelta(days=offset)
        snapshot = customer_snapshot(rng, customers, day, label_shift)
        frame = snapshot.astype("string")
        frame["event_timestamp"] = snapshot["event_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        bad = _damage(rng, frame, bad_fraction, blank_fraction)
        bad_total += len(bad)
        intact = np.setdiff1d(np.arange(len(frame)), bad)
        duplicates = frame.iloc[rng.choice(intact, int(len(frame) * duplicate_fraction), replace=False)]
        duplicate_total += len(duplicates)
        partition = f"date={day.isoformat()}"
        target = root / partition
        target.mkdir(parents=True, exist_ok=True)
        pd.concat([frame, duplicates]).to_csv(target / "part-0.csv", index=False)
        partitions.append(partition)
    return GeneratedData(tuple(partitions), customers * days, bad_total, duplicate_total)
