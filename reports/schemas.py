"""The reports API's request and response models (core.schemas): customers, monthly
reports and error budgets. Rules that need the store (a project that exists in its region's
commerce set, an active account manager, the same project twice) stay in reports.customers;
the web form reads the same fields through `parse_customer`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints
from pydantic_core import ErrorDetails

from core.schemas import QueryModel, RequestModel, ResponseModel
from reports.customers import MAX_PROJECTS, PROJECT_KEY
from sla.budget import AlertLevel
from sla.model import PeriodBasis

Plan = Literal["standard", "premium"]
MAX_ID = 2**31 - 1  # what an integer column holds on every backend


class ProjectIn(RequestModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    project_key: Annotated[str, Field(pattern=PROJECT_KEY.pattern)]
    region: str


class CustomerIn(RequestModel):
    """A whole customer: its plan, billing basis, account manager, fee and commerce projects
    (each `{project_key, region}`; the list may be empty)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    problem_code: ClassVar[str] = "invalid_customer"
    echo_choice: ClassVar[bool] = True
    messages: ClassVar[dict[str, str]] = {
        "name": "must be a string of 1..200 characters",
        "account_manager_id": "must be a whole number ≥ 1, or null",
        "monthly_fee_cents": "must be a whole number ≥ 0, or null"}

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200)]
    plan: Plan = "standard"
    period_basis: PeriodBasis = PeriodBasis.CALENDAR
    account_manager_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    monthly_fee_cents: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    projects: Annotated[list[ProjectIn], Field(max_length=MAX_PROJECTS)]

    @classmethod
    def where(cls, loc: tuple[int | str, ...], given: Any = None) -> str:
        """`project 0: 'project_key'`, as the web form says it."""
        if len(loc) >= 3 and loc[0] == "projects" and isinstance(loc[1], int):
            return f"project {loc[1]}: " + super().where(loc[2:])
        return super().where(loc)

    @classmethod
    def refusal_text(cls, error: ErrorDetails, given: Any) -> str | None:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and len(loc) == 1 and isinstance(given, dict):
            unknown = sorted(set(given) - set(cls.model_fields))
            return f"unknown field(s): {', '.join(unknown)}"
        if (len(loc) >= 2 and loc[0] == "projects" and isinstance(loc[1], int)
                and (len(loc) == 2 or error["type"] in ("extra_forbidden", "missing"))):
            return (f"project {loc[1]} must be an object with exactly 'project_key' and "
                    "'region'")
        if len(loc) == 3 and loc[2] == "project_key":
            return (f"project {loc[1]}: 'project_key' must be 1-64 of a-z, 0-9, '-' and '_', "
                    f"starting with a letter or digit, not {error['input']!r}")
        if loc == ("projects",) and error["type"] == "missing":
            return "'projects' is required (it may be an empty list)"
        return None


class ReportQuery(QueryModel):
    problem_code: ClassVar[str] = "bad_format"
    echo_choice: ClassVar[bool] = True

    format: Literal["json", "csv", "pdf"] = "json"


class BudgetsQuery(QueryModel):
    problem_code: ClassVar[str] = "bad_sla_input"

    plan: Plan | None = None
    region: str | None = None


# --- answers ------------------------------------------------------------------------------

class ProjectOut(ResponseModel):
    project_key: str
    region: str


class CustomerOut(ResponseModel):
    """A customer."""

    id: int
    name: str
    plan: Plan
    period_basis: PeriodBasis
    account_manager_id: int | None
    monthly_fee_cents: int | None
    projects: list[ProjectOut]
    regions: list[str]
    created_at: AwareDatetime


class Customers(ResponseModel):
    """Customers: every one for admins, their own for account managers."""

    customers: list[CustomerOut]


class CustomerDeleted(ResponseModel):
    """The customer that was deleted."""

    deleted: int


class ReportCustomer(ResponseModel):
    id: int
    name: str
    account_manager_id: int | None
    regions: list[str]
    projects: list[ProjectOut]


class ReportTotals(ResponseModel):
    period_minutes: int
    maintenance_minutes: int
    downtime_minutes: int
    no_data_minutes: int
    eligible_minutes: int
    single_location_minutes: int
    uptime_pct: float
    coverage_pct: float
    lines_missed: int
    monthly_fee_cents: int | None
    credit_cents: int | None


class ToDate(ResponseModel):
    elapsed_minutes: int
    maintenance_minutes: int
    downtime_minutes: int
    no_data_minutes: int
    eligible_minutes: int
    uptime_pct: float
    coverage_pct: float


class ReportDay(ResponseModel):
    day: str
    uptime_pct: float | None
    downtime_minutes: int
    no_data_minutes: int
    maintenance_minutes: int


class ReportLine(ResponseModel):
    component: str
    region: str
    tier: int
    period_minutes: int
    maintenance_minutes: int
    downtime_minutes: int
    no_data_minutes: int
    eligible_minutes: int
    uptime_pct: float
    target_pct: float
    met: bool
    credit_pct: float
    budget_minutes: float
    budget_remaining_minutes: float
    coverage_pct: float
    coverage_warning: bool
    single_location_minutes: int
    credit_cents: int | None
    to_date: ToDate | None = None
    days: list[ReportDay]


class ReportIncident(ResponseModel):
    id: int
    title: str
    impact: str
    state: Literal["open", "resolved"]
    origin: str
    tier: int
    affected: list[dict[str, str]]
    first_failure_at: AwareDatetime | None
    opened_at: AwareDatetime | None
    acknowledged_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    time_to_detect_minutes: float | None
    time_to_acknowledge_minutes: float | None
    time_to_resolve_minutes: float | None
    objectives: dict[str, float | None]
    acknowledge: str
    resolve: str


class MonthlyReport(ResponseModel):
    """A customer's monthly SLA report (as JSON; `format=csv` or `pdf` answer files)."""

    customer: ReportCustomer
    month: str
    plan: str
    period_basis: PeriodBasis
    period_minutes: int
    complete: bool
    generated_at: AwareDatetime
    totals: ReportTotals
    to_date: ToDate | None
    lines: list[ReportLine]
    incidents: list[ReportIncident]


class BudgetOut(ResponseModel):
    component: str
    region: str
    tier: int
    plan: str
    target_pct: float
    start: AwareDatetime
    end: AwareDatetime
    eligible_minutes: int
    downtime_minutes: int
    no_data_minutes: int
    budget_minutes: float
    budget_remaining_minutes: float
    uptime_pct: float
    burn_rates: dict[str, float]
    alert: AlertLevel


class Budgets(ResponseModel):
    """The error budget left over the last 30 days per (component, region)."""

    budgets: list[BudgetOut]
