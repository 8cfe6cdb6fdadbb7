"""Tables for oversight: violations an auditor recorded from the anomaly audit.

A violation cites the ledger entries it rests on by sequence number, so anyone can check the finding
against the hash-chained record; the row itself is a summary, not evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
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
