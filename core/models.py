"""Users, their roles and their API tokens (stored hashed)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"
    ACCOUNT_MANAGER = "account_manager"
    AGENT = "agent"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """An API token; only its SHA-256 is stored, the secret is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The probe locations an agent token may submit checks for (comma-separated); None
    #: for tokens of other roles.
    locations: Mapped[str | None] = mapped_column(String(500), default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class JobRun(Base):
    """When a background job last ran and last succeeded: `/healthz` and `/metrics` tell
    from it whether evaluation (or any job) has stopped."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_run_at: Mapped[datetime]
    last_ok_at: Mapped[datetime | None] = mapped_column(default=None)
