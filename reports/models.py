"""Customers and their projects: what a monthly SLA report is computed for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class Customer(Base):
    """A customer on a plan, looked after by one account manager.

    `period_basis` is "calendar" (the default) or "fixed_30d" (spec §8).
    """

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    plan: Mapped[str] = mapped_column(String(16))
    period_basis: Mapped[str] = mapped_column(String(16), default="calendar")
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None)
    monthly_fee_cents: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime]

    projects: Mapped[list[CustomerProject]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerProject.id")


class CustomerProject(Base):
    """A customer's project in one region; its report covers every region it has one in."""

    __tablename__ = "customer_projects"
    __table_args__ = (UniqueConstraint("region", "project_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             index=True)
    project_key: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(100))

    customer: Mapped[Customer] = relationship(back_populates="projects")
