"""Request bodies (XCreate and friends): what a client may send, with limits."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from faceledger.policy.governance import ReviewDecision, Role


class SessionCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(min_length=1, max_length=6)
    department: str = Field(min_length=1, max_length=200)
    display_name: str = Field(default="", max_length=200)
    certified_until: date | None = None


class Certification(BaseModel):
    until: date


class Reason(BaseModel):
    reason: str = Field(default="", max_length=2000)


class TokenCreate(BaseModel):
    label: str = Field(default="", max_length=200)


class AuthorityGrant(BaseModel):
    reference: str = Field(min_length=1, max_length=500)
    purposes: list[str] = Field(min_length=1, max_length=50)
    offence_types: list[str] = Field(default_factory=list, max_length=200)
    starts_on: date
    ends_on: date
    max_candidates: int = Field(ge=1, le=50)


class CaseCreate(BaseModel):
    number: str = Field(min_length=1, max_length=100)
    purpose: str = Field(min_length=1, max_length=100)
    offence_type: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)


class Assignment(BaseModel):
    users: list[str] = Field(min_length=1, max_length=100)


class ReviewCreate(BaseModel):
    decision: ReviewDecision
    note: str = Field(default="", max_length=5000)


class Note(BaseModel):
    note: str = Field(default="", max_length=5000)


class Corroboration(BaseModel):
    evidence: str = Field(min_length=1, max_length=10000)


class IngestCreate(BaseModel):
    path: str = Field(min_length=1, max_length=4000, description="A folder or manifest on the server.")
    source: str = Field(min_length=1, max_length=200)
    legal_basis: str | None = Field(default=None, max_length=2000)
    collection_method: str = Field(default="", max_length=2000)
    contact: str = Field(default="", max_length=500)


class OptOutConfirm(BaseModel):
    """The matched faces a curator confirmed are the person; the others are kept. Empty: none of them."""

    face_ids: list[int] = Field(default_factory=list, max_length=500)


class RolesUpdate(BaseModel):
    roles: list[Role] = Field(min_length=1, max_length=7)


class Decision(BaseModel):
    note: str = Field(default="", max_length=2000)


class Enrolment(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=1024)


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
