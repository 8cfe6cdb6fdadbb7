"""The Alembic migrations build exactly the schema the ORM describes, on SQLite and PostgreSQL, and running
them again on a migrated database changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import faceledger.store.governance_models
import faceledger.store.ledger
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints, ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.store.ledger_anchor import Anchor
from faceledger.store.migrate import MIGRATIONS, alembic_config, current_revision, head_revision, upgrade
from faceledger.store.models import Base

MakeDeployment = Callable[..., Deployment]

# Every table the ORM knows, so a model without a migration (or a migration without a model) shows up.
assert faceledger.store.governance_models.Department.__tablename__ in Base.metadata.tables
assert faceledger.store.ledger.LedgerEntry.__tablename__ in Base.metadata.tables

NEWEST = max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def schema_snapshot(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, indexes, unique constraints and foreign keys, as the database reports them."""
    inspector = inspect(engine)
    snapshot: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "indexes": sorted((i["name"] or "", tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return snapshot


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_head_is_the_newest_migration() -> None:
    assert head_revision() == NEWEST


def test_migrations_match_the_models(make_deployment: MakeDeployment) -> None:
    deployment = make_deployment()
    assert current_revision(deployment.engine) == head_revision()
    assert schema_diff(deployment.engine) == []
    tables = set(inspect(deployment.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    assert {"ledger_entries", "ledger_head", "ledger_checkpoints", "users", "cases", "searches"} <= tables


def test_schema_comparison_notices_a_difference(make_deployment: MakeDeployment) -> None:
    """The comparison above can fail: a dropped index and a stray table both show up in the diff."""
    deployment = make_deployment()
    with deployment.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_ledger_entries_action"))
        connection.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    kinds = {(diff[0], getattr(diff[1], "name", None)) for diff in schema_diff(deployment.engine)}
    assert ("add_index", "ix_ledger_entries_action") in kinds
    assert ("remove_table", "stray") in kinds


def test_migrations_seed_their_single_rows(make_deployment: MakeDeployment) -> None:
    deployment = make_deployment()
    with deployment.engine.connect() as connection:
        assert connection.execute(text("SELECT id, version FROM gallery_state")).all() == [(1, 0)]
        assert connection.execute(text("SELECT id, seq, hash FROM ledger_head")).all() == [(1, 0, ledger.GENESIS_HASH)]


def test_upgrading_again_is_a_no_op(make_deployment: MakeDeployment) -> None:
    deployment = make_deployment()
    with transaction(deployment.sessions) as session:
        for i in range(3):
            ledger.write_entry(session, ledger.Actor(1, "alice"), EventName.SEARCH, details={"i": i})
    before = schema_snapshot(deployment.engine)
    with deployment.engine.connect() as connection:
        entries_before = connection.execute(text("SELECT * FROM ledger_entries ORDER BY seq")).all()

    for _ in range(2):
        upgrade(deployment.engine)

    assert current_revision(deployment.engine) == head_revision() == NEWEST
    assert count(deployment.engine, "alembic_version") == 1
    assert schema_snapshot(deployment.engine) == before
    assert count(deployment.engine, "ledger_head") == 1  # the seeded rows are not inserted twice
    assert count(deployment.engine, "gallery_state") == 1
    with deployment.engine.connect() as connection:
        assert connection.execute(text("SELECT * FROM ledger_entries ORDER BY seq")).all() == entries_before
    assert schema_diff(deployment.engine) == []
    with deployment.sessions() as session:
        checks = checkpoints.Checks(checkpoints.HmacSigner(bytes(32)), Anchor(), every=100)
        assert checkpoints.verify(session, checks) == ledger.Verification(ledger.VerifyStatus.VERIFIED, 3, 0, None, "")


def test_downgrade_to_base_and_back(make_deployment: MakeDeployment) -> None:
    """The downgrades undo their upgrades completely, so a database can be stepped back and forward again."""
    deployment = make_deployment()
    config = alembic_config()
    with deployment.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert current_revision(deployment.engine) == "0001"
    tables = set(inspect(deployment.engine).get_table_names())
    assert "ledger_entries" not in tables
    assert "faces" in tables
    with deployment.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert current_revision(deployment.engine) is None
    assert set(inspect(deployment.engine).get_table_names()) <= {"alembic_version"}

    upgrade(deployment.engine)
    assert current_revision(deployment.engine) == head_revision()
    assert schema_diff(deployment.engine) == []
    assert count(deployment.engine, "ledger_head") == 1
