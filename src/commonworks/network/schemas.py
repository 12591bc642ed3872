"""Request and response shapes of the network: profile, capabilities, capacity, demands, quotes, orders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from commonworks.core.params import RefId
from commonworks.core.schemas import Input
from commonworks.network.models import DemandKind, DemandStatus, OrderStatus, QuoteStatus
from commonworks.network.taxonomy import taxonomy


def _known(kind: str, table: str) -> Any:
    def check(value: str) -> str:
        known = getattr(taxonomy(), table)
        if value not in known:
            near = [c for c in known if c.startswith(value[:3])][:5]
            hint = f" (did you mean {', '.join(near)}?)" if near else "; see GET /api/v1/network/taxonomy"
            raise ValueError(f"unknown {kind} {value!r}{hint}")
        return value

    return check


ProcessCode = Annotated[str, Field(min_length=1, max_length=40, examples=["milling"]),
                        AfterValidator(_known("process", "processes"))]
MaterialCode = Annotated[str, Field(min_length=1, max_length=40, examples=["aluminium_6061"]),
                         AfterValidator(_known("material", "materials"))]
CertCode = Annotated[str, Field(min_length=1, max_length=40, examples=["iso_9001"]),
                     AfterValidator(_known("certification", "certifications"))]
Millimetres = Annotated[float, Field(gt=0, le=100_000)]
Tolerance = Annotated[float, Field(gt=0, le=100, description="± mm; smaller is finer")]
Roughness = Annotated[float, Field(gt=0, le=100, description="Ra in µm; smaller is finer")]
Money = Annotated[float, Field(ge=0, le=1e12, description="CNY")]
Text = Annotated[str, Field(max_length=5000)]


def _unique(values: list[Any], what: str) -> list[Any]:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} is listed twice")
        seen.add(v)
    return values


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- profile


class ProfileIn(Input):
    published: bool = False
    description_zh: Text | None = None
    description_en: Text | None = None
    certifications: Annotated[list[CertCode], AfterValidator(lambda v: _unique(v, "certification"))] = Field(
        default_factory=list, max_length=20)
    lead_time_days: int = Field(default=7, ge=0, le=365)


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    org_id: int
    published: bool
    description_zh: str | None
    description_en: str | None
    certifications: list[str]
    lead_time_days: int


# ---------------------------------------------------------------- capabilities


class _CapabilityFields(Input):
    @model_validator(mode="after")
    def _batch(self) -> _CapabilityFields:
        low, high = getattr(self, "batch_min", None), getattr(self, "batch_max", None)
        if low is not None and high is not None and high < low:
            raise ValueError(f"batch_max ({high}) is below batch_min ({low})")
        return self


class CapabilityCreate(_CapabilityFields):
    process: ProcessCode
    materials: Annotated[list[MaterialCode], AfterValidator(lambda v: _unique(v, "material"))] = Field(
        default_factory=list, max_length=30, description="empty: any material")
    envelope_x_mm: Millimetres | None = None
    envelope_y_mm: Millimetres | None = None
    envelope_z_mm: Millimetres | None = None
    tolerance_mm: Tolerance | None = None
    finish_ra_um: Roughness | None = None
    batch_min: int = Field(default=1, ge=1, le=100_000_000)
    batch_max: int | None = Field(default=None, ge=1, le=100_000_000)
    price_per_hour: Money | None = None
    hours_per_day: float | None = Field(default=None, ge=0, le=24 * 50, description="declared, without machines")
    machine_ids: Annotated[list[RefId], AfterValidator(lambda v: _unique(v, "machine"))] = Field(
        default_factory=list, max_length=200)
    note: Annotated[str, Field(max_length=500)] | None = None


class CapabilityUpdate(_CapabilityFields):
    process: ProcessCode | None = None
    materials: Annotated[list[MaterialCode], AfterValidator(lambda v: _unique(v, "material"))] | None = Field(
        default=None, max_length=30)
    envelope_x_mm: Millimetres | None = None
    envelope_y_mm: Millimetres | None = None
    envelope_z_mm: Millimetres | None = None
    tolerance_mm: Tolerance | None = None
    finish_ra_um: Roughness | None = None
    batch_min: int | None = Field(default=None, ge=1, le=100_000_000)
    batch_max: int | None = Field(default=None, ge=1, le=100_000_000)
    price_per_hour: Money | None = None
    hours_per_day: float | None = Field(default=None, ge=0, le=24 * 50)
    machine_ids: Annotated[list[RefId], AfterValidator(lambda v: _unique(v, "machine"))] | None = Field(
        default=None, max_length=200)
    note: Annotated[str, Field(max_length=500)] | None = None


class CapabilityOut(_Out):
    process: str
    materials: list[str]
    envelope_x_mm: float | None
    envelope_y_mm: float | None
    envelope_z_mm: float | None
    tolerance_mm: float | None
    finish_ra_um: float | None
    batch_min: int
    batch_max: int | None
    price_per_hour: float | None
    hours_per_day: float | None
    machine_ids: list[int]
    note: str | None


# ---------------------------------------------------------------- capacity


class BookingCreate(Input):
    machine_id: RefId
    start_ms: int = Field(ge=946_684_800_000, le=32_503_680_000_000)
    end_ms: int = Field(ge=946_684_800_000, le=32_503_680_000_000)
    label: Annotated[str, Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _order(self) -> BookingCreate:
        if self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be after start_ms")
        if self.end_ms - self.start_ms > 366 * 86_400_000:
            raise ValueError("a booking may span at most one year")
        return self


class BookingUpdate(Input):
    start_ms: int | None = Field(default=None, ge=946_684_800_000, le=32_503_680_000_000)
    end_ms: int | None = Field(default=None, ge=946_684_800_000, le=32_503_680_000_000)
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class BookingOut(_Out):
    machine_id: int
    start_ms: int
    end_ms: int
    label: str
    order_id: int | None


class CapacityDay(BaseModel):
    day: date
    shift_h: float
    booked_h: float
    expected_h: float
    free_h: float
    published_h: float | None = None
    price_per_hour: float | None = None


class MachineCapacity(BaseModel):
    machine_id: int
    name: str
    utilisation: float | None = Field(description="share of planned time the machine was busy, learned from its "
                                                  "own state history (None: no history yet)")
    history_days: int
    days: list[CapacityDay]


class CapabilityCapacity(BaseModel):
    capability_id: int
    process: str
    machines: list[int]
    days: list[CapacityDay]


class CapacityReport(BaseModel):
    start: date
    machines: list[MachineCapacity]
    capabilities: list[CapabilityCapacity]


class PublishIn(Input):
    capability_id: RefId
    days: int = Field(default=28, ge=1, le=28)
    share: float = Field(default=1.0, gt=0, le=1, description="part of the free hours to publish")
    max_hours_per_day: float | None = Field(default=None, ge=0, le=24 * 50)
    price_per_hour: Money | None = Field(default=None, description="default: the capability's price")


class OfferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    capability_id: int
    day: date
    hours: float
    price_per_hour: float | None


# ---------------------------------------------------------------- demands


class _DemandFields(Input):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text | None = None
    process: ProcessCode | None = None
    material: MaterialCode | None = None
    specification: Annotated[str, Field(max_length=300)] | None = None
    quantity: float | None = Field(default=None, gt=0, le=1e12)
    unit: Annotated[str, Field(max_length=20)] | None = None
    envelope_x_mm: Millimetres | None = None
    envelope_y_mm: Millimetres | None = None
    envelope_z_mm: Millimetres | None = None
    tolerance_mm: Tolerance | None = None
    finish_ra_um: Roughness | None = None
    certifications: Annotated[list[CertCode], AfterValidator(lambda v: _unique(v, "certification"))] = Field(
        default_factory=list, max_length=10)
    hours: float | None = Field(default=None, gt=0, le=100_000, description="machine hours the job needs")
    due_date: date | None = None
    budget: Money | None = None
    delivery_latitude: float | None = Field(default=None, ge=-90, le=90)
    delivery_longitude: float | None = Field(default=None, ge=-180, le=180)
    delivery_place: Annotated[str, Field(max_length=200)] | None = None
    allow_split: bool = False
    service_kind: Literal["consulting", "training"] | None = None


class DemandCreate(_DemandFields):
    kind: DemandKind
    publish: bool = Field(default=True, description="open to the network now (else a draft only you see)")

    @model_validator(mode="after")
    def _complete(self) -> DemandCreate:
        missing = []
        if self.kind == DemandKind.part_rfq:
            missing = [f for f in ("process", "quantity", "due_date") if getattr(self, f) is None]
        elif self.kind == DemandKind.material:
            missing = [f for f in ("quantity", "due_date") if getattr(self, f) is None]
            if self.material is None and not self.specification:
                missing.append("material or specification")
        elif self.kind == DemandKind.service and self.service_kind is None:
            missing = ["service_kind"]
        elif self.kind == DemandKind.technical and not self.description:
            missing = ["description"]
        if missing:
            raise ValueError(f"a {self.kind.value} demand needs {', '.join(missing)}")
        if (self.delivery_latitude is None) != (self.delivery_longitude is None):
            raise ValueError("give both delivery_latitude and delivery_longitude, or neither")
        if self.kind == DemandKind.part_rfq and self.quantity is not None and self.quantity != int(self.quantity):
            raise ValueError("quantity of parts must be a whole number")
        return self


class DemandStatusIn(Input):
    status: Literal["open", "closed", "cancelled"]


class DemandOut(_Out):
    org_id: int
    buyer: str
    kind: DemandKind
    status: DemandStatus
    title: str
    description: str | None
    process: str | None
    material: str | None
    specification: str | None
    quantity: float | None
    unit: str | None
    envelope_x_mm: float | None
    envelope_y_mm: float | None
    envelope_z_mm: float | None
    tolerance_mm: float | None
    finish_ra_um: float | None
    certifications: list[str]
    hours: float | None
    due_date: date | None
    budget: float | None
    delivery_place: str | None
    allow_split: bool
    service_kind: str | None
    published_at: datetime | None
    mine: bool = False


# ---------------------------------------------------------------- quotes and orders


class QuoteCreate(Input):
    price: Money = Field(gt=0)
    lead_time_days: int = Field(ge=0, le=365)
    capability_id: RefId | None = None
    note: Annotated[str, Field(max_length=1000)] | None = None


class QuoteOut(_Out):
    demand_id: int
    org_id: int
    supplier: str
    price: float
    lead_time_days: int
    capability_id: int | None
    note: str | None
    status: QuoteStatus


class BindIn(Input):
    machine_id: RefId
    counter_tag_id: RefId | None = Field(default=None, description="default: the machine's part_counter tag")


class DeliverIn(Input):
    quantity: int = Field(ge=0, le=100_000_000)


class AcceptIn(Input):
    good_quantity: int = Field(ge=0, le=100_000_000)


class RatingIn(Input):
    stars: int = Field(ge=1, le=5)
    comment: Annotated[str, Field(max_length=1000)] | None = None


class Progress(BaseModel):
    made: int = Field(description="parts counted by the supplier's machine since the order was bound")
    quantity: int
    percent: float
    rate_per_hour: float | None = Field(description="parts per hour over the last hour of counting")
    expected_finish_ms: int | None
    last_count_ms: int | None
    on_track: bool | None = Field(description="expected finish before the end of the due date")


class OrderOut(_Out):
    demand_id: int
    quote_id: int
    buyer_org_id: int
    supplier_org_id: int
    buyer: str
    supplier: str
    title: str
    quantity: int
    price: float
    due_date: date
    status: OrderStatus
    machine_id: int | None
    bound_ms: int | None
    delivered_quantity: int | None
    delivered_at: datetime | None
    good_quantity: int | None
    accepted_at: datetime | None
    progress: Progress | None = None
    role: Literal["buyer", "supplier"]


class Reputation(BaseModel):
    org_id: int
    orders_90d: int
    on_time_90d: float | None
    quality_90d: float | None
    orders_last10: int
    on_time_last10: float | None
    quality_last10: float | None
    stars: float | None
    ratings: int
    score: float | None = Field(description="0..1 used by matching: mean of on-time and quality rates over "
                                            "the basis with more orders; None without delivered orders")
    basis: str


# ---------------------------------------------------------------- matches


class ConstraintOut(BaseModel):
    name: str  # process, material, envelope, tolerance, finish, certification, batch, capacity
    passed: bool
    detail: str = Field(description="The reason in English.")
    code: str = Field(description="The reason as a message id, e.g. material.covers, capacity.short.")
    args: dict[str, Any] = Field(description="The message's values: taxonomy codes, numbers as text, flags.")


class ComponentOut(BaseModel):
    name: str  # text, distance, price, reputation, capacity
    raw: float | None
    normalised: float
    weight: float
    contribution: float


class MatchOut(BaseModel):
    rank: int
    enterprise_id: int
    name: str
    region: str | None
    score: float
    capability_id: int | None
    process: str
    distance_km: float | None
    price_per_hour: float | None
    free_hours_before_due: float | None
    reputation: float | None
    reputation_basis: str
    constraints: list[ConstraintOut]
    components: list[ComponentOut]


class MatchesOut(BaseModel):
    demand_id: int
    candidates: int = Field(description="published capability profiles considered")
    excluded: dict[str, int] = Field(description="suppliers left out, by the first hard constraint they fail")
    matches: list[MatchOut]


class AllocationIn(Input):
    demand_ids: Annotated[list[RefId], AfterValidator(lambda v: _unique(v, "demand"))] | None = Field(
        default=None, max_length=2000, description="default: all your open part RFQs")
    time_limit_s: float = Field(default=10.0, gt=0, le=30)
