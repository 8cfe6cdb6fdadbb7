"""Signed tree heads: every Ed25519 checkpoint the log has issued (services/oversight/transparency.py), with the
right edge of the tree it signed, so that the next one is checked from there rather than from entry 1."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from faceledger.store.models import Base


class SignedCheckpoint(Base):
    __tablename__ = "ledger_signed_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)  # the checkpoint as published, with every signature it carries
    edge: Mapped[str] = mapped_column(Text)  # store/merkle.py's right edge at `size`


def latest(session: Session) -> SignedCheckpoint | None:
    return session.scalars(select(SignedCheckpoint).order_by(SignedCheckpoint.id.desc()).limit(1)).one_or_none()


def at_size(session: Session, size: int) -> SignedCheckpoint | None:
    query = select(SignedCheckpoint).where(SignedCheckpoint.size == size).order_by(SignedCheckpoint.id.desc())
    return session.scalars(query.limit(1)).one_or_none()
