"""Tables for governance: people and their roles, the council's authorisation, cases, searches with their
candidates, reviews and leads, quality overrides, and opt-out requests with their blocklist.

Rows here hold ids, hashes, scores and words; never a probe image or a probe embedding. The only
embeddings are an opt-out's, kept on purpose so the person stays out of the gallery."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from faceledger.store.models import Base, UtcDateTime, utcnow
from faceledger.types import CaseStatus


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    roles: Mapped[list[Any]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    certified_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token, stored as the SHA-256 of its random value (it is shown once, at creation)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Authorisation(Base):
    """The council's grant. The newest row is the one in force; halting and resuming change its status."""

    __tablename__ = "authorisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(Text)
    purposes: Mapped[list[Any]] = mapped_column(JSON)
    offence_types: Mapped[list[Any]] = mapped_column(JSON)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    max_candidates: Mapped[int] = mapped_column(Integer)
    # Searching every face of a video (rather than one a person chose) needs this and a warrant reference.
    allows_bulk_video: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    halted: Mapped[bool] = mapped_column(Boolean, default=False)
    halt_reason: Mapped[str] = mapped_column(Text, default="")
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("department_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    number: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(100))
    offence_type: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=CaseStatus.OPEN.value)
    opened_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    department: Mapped[Department] = relationship(lazy="joined")
    assignments: Mapped[list[CaseAssignment]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class CaseAssignment(Base):
    __tablename__ = "case_assignments"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True)
    assigned_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class QualityOverride(Base):
    """A supervisor's recorded decision that one low-quality probe may be searched in one case."""

    __tablename__ = "quality_overrides"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    probe_sha256: Mapped[str] = mapped_column(String(64))
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Search(Base):
    """One probe face searched in one case. Refused searches are on the ledger only (with the probe's hash)."""

    __tablename__ = "searches"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    attestation: Mapped[str] = mapped_column(Text)
    probe_sha256: Mapped[str] = mapped_column(String(64), index=True)
    probe_name: Mapped[str] = mapped_column(Text)
    probe_face: Mapped[dict[str, Any]] = mapped_column(JSON)
    probe_thumbnail: Mapped[str | None] = mapped_column(Text, nullable=True)
    quality_override_id: Mapped[int | None] = mapped_column(ForeignKey("quality_overrides.id", ondelete="SET NULL"))
    gallery_version: Mapped[int] = mapped_column(Integer)
    gallery_faces: Mapped[int] = mapped_column(Integer)
    model_key: Mapped[str] = mapped_column(String(120))
    threshold: Mapped[float] = mapped_column(Float)
    max_candidates: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The operating point this search used (policy/operating_threshold.py); None on searches made before it.
    threshold_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)
    target_fpir: Mapped[float | None] = mapped_column(Float, nullable=True)
    promise_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    expected_false_candidates: Mapped[float | None] = mapped_column(Float, nullable=True)
    operating_point: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    case: Mapped[Case] = relationship(lazy="joined")
    candidates: Mapped[list[Candidate]] = relationship(
        back_populates="search", cascade="all, delete-orphan", passive_deletes=True, order_by="Candidate.rank"
    )


class Candidate(Base):
    """A lead shown to the searcher. The gallery face may later be removed; the candidate then keeps its
    score but loses the face and its provenance snapshot."""

    __tablename__ = "candidates"
    id: Mapped[int] = mapped_column(primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    face_id: Mapped[int | None] = mapped_column(ForeignKey("faces.id", ondelete="SET NULL"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    distance: Mapped[float] = mapped_column(Float)
    false_match_rate: Mapped[float] = mapped_column(Float)
    false_match_text: Mapped[str] = mapped_column(Text)
    likelihood: Mapped[str] = mapped_column(String(30))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Strangers in a gallery of the search's size expected to score this close (None before 0014).
    expected_strangers: Mapped[float | None] = mapped_column(Float, nullable=True)
    strangers_text: Mapped[str | None] = mapped_column(Text, nullable=True)

    search: Mapped[Search] = relationship(back_populates="candidates", lazy="joined")
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    lead: Mapped[Lead | None] = relationship(cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("candidate_id", "reviewer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Lead(Base):
    """A candidate two reviewers called a possible match and a supervisor signed off: a confirmed lead."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), unique=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    signoff_note: Mapped[str] = mapped_column(Text, default="")
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    corroboration: Mapped[str | None] = mapped_column(Text, nullable=True)
    corroborated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    corroborated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    exported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OptOutRequest(Base):
    __tablename__ = "optout_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact: Mapped[str] = mapped_column(Text)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="received")
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    faces_removed: Mapped[int] = mapped_column(Integer, default=0)
    images_removed: Mapped[int] = mapped_column(Integer, default=0)


class OptOutEmbedding(Base):
    """The opted-out person's face, kept so ingestion skips it and search never returns it."""

    __tablename__ = "optout_embeddings"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("optout_requests.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model_key: Mapped[str] = mapped_column(String(120), index=True)


class WebSession(Base):
    """A browser sign-in: the cookie holds a random value, stored here as SHA-256, with its CSRF token."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OptOutMatch(Base):
    """A gallery face an opt-out photo matched within the strict distance, shown to a curator to confirm;
    only confirmed faces are deleted. `face_id` is no foreign key: the record outlives the face."""

    __tablename__ = "optout_matches"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("optout_requests.id", ondelete="CASCADE"), index=True)
    face_id: Mapped[int] = mapped_column(Integer)
    distance: Mapped[float] = mapped_column(Float)
    false_match_rate: Mapped[float] = mapped_column(Float)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AccountRequest(Base):
    """A change to who may act, asked for by one admin and carried out only when a different admin approves
    it (the two-person rule): a new user, new roles, re-enabling, a credential reset or a token for someone."""

    __tablename__ = "account_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    username: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class EnrolmentCode(Base):
    """A one-time code delivered to the user out of band (never to an admin); redeeming it sets their
    password and issues their own API token. Stored as SHA-256, like tokens."""

    __tablename__ = "enrolment_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("account_requests.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SignInThrottle(Base):
    """Failed sign-ins counted per account and per source address, in the database so that every server
    process sees the same counts. `key` is a keyed hash, never the typed user name."""

    __tablename__ = "sign_in_throttle"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Failures are ledgered once a minute per key, with the count since the last entry, so a flood of
    # wrong passwords cannot fill the ledger.
    ledgered_minute: Mapped[str] = mapped_column(String(20), default="")
    unledgered: Mapped[int] = mapped_column(Integer, default=0)
