"""The alias/stage table: previous versions, rollbacks as news, and a saved table that survives a restart."""

from __future__ import annotations

from listeners.model_positions import positions_batch
from triggers.event import EventType, ModelChange
from triggers.ledger import Ledger


def test_stage_moves_are_numbered_and_a_new_version_in_no_stage_is_not_news(ledger: Ledger) -> None:
    with positions_batch(ledger) as batch:
        assert batch.stage("churn", "1", "None").event is None
        to_staging = batch.stage("churn", "1", "Staging")
        to_production = batch.stage("churn", "1", "Production")
        unchanged = batch.stage("churn", "1", "Production")
    assert to_staging.moved and to_production.moved and not unchanged.moved
    assert unchanged.event is not None and to_production.event is not None
    assert (unchanged.event.idempotency_key, unchanged.event.data) == (
        to_production.event.idempotency_key,
        to_production.event.data,
    ) and isinstance(to_production.event.data, ModelChange)
    assert (to_production.event.data.from_stage, to_production.event.data.to_stage) == ("Staging", "Production")
    assert to_production.event.idempotency_key == "mlflow:stage:churn:1:2:Production"


def test_the_table_is_saved_so_a_new_batch_sees_no_news(ledger: Ledger) -> None:
    with positions_batch(ledger) as batch:
        batch.alias("churn", "champion", "3")
        batch.stage("churn", "3", "Production")
    with positions_batch(ledger) as later:
        assert not later.alias("churn", "champion", "3").moved
        assert not later.stage("churn", "3", "Production").moved
        assert later.known_aliases("churn") == {"champion"}


def test_a_failed_batch_saves_nothing(ledger: Ledger) -> None:
    try:
        with positions_batch(ledger) as batch:
            batch.alias("churn", "champion", "1")
            raise RuntimeError("ledger write failed")
    except RuntimeError:
        pass
    with positions_batch(ledger) as batch:
        assert batch.alias("churn", "champion", "1").moved


def test_rollback_to_an_earlier_version_gets_its_own_key(ledger: Ledger) -> None:
    with positions_batch(ledger) as batch:
        keys = [batch.alias("churn", "champion", v).event for v in ("1", "2", "1")]
        deleted = batch.alias("churn", "champion", None).event
    assert len({e.idempotency_key for e in keys if e is not None}) == 3
    assert deleted is not None and deleted.type is EventType.MODEL_ALIAS_DELETED
    assert isinstance(deleted.data, ModelChange) and deleted.data.previous_version == "1"
