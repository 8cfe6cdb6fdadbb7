"""Tables for oversight: violations an auditor recorded from the anomaly audit.

A violation cites the ledger entries it rests on by sequence number, so anyone can check the finding
against the hash-chained record; the row itself is a summary, not evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from faceledger.store.models import Base, UtcDateTime, utcnow


class Violation(Base):
    __tablename__ = "violations"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    summary: Mapped[str] = mapped_column(Text)
    ledger_seqs: Mapped[list[Any]] = mapped_column(JSON)
    # The user the finding is about, by name as the ledger names them (several, comma-separated, at most).
    actor: Mapped[str] = mapped_column(String(100))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class UnauthenticatedRefusals(Base):
    """Refusals of requests that carried no valid credentials, counted per minute and client address
    rather than ledgered one by one (a flood would otherwise fill the never-deletable ledger). Each bucket
    is summarised on the ledger when first seen and again, with its final count, once its minute is over."""

    __tablename__ = "unauthenticated_refusals"
    __table_args__ = (UniqueConstraint("minute", "source", name="uq_unauthenticated_refusals_minute"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    minute: Mapped[str] = mapped_column(String(16))  # "YYYY-MM-DDTHH:MM", UTC
    source: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_path: Mapped[str] = mapped_column(String(200))  # truncated: a 60 KB path is not kept
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON)  # reason -> count; reasons never hold the path
    closed_seq: Mapped[int | None] = mapped_column(Integer, default=None, index=True)  # the closing ledger entry
