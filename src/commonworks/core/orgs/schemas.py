"""Request and response shapes for organizations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from commonworks.core import codes
from commonworks.core.orgs.models import OrgKind, SizeClass
from commonworks.core.schemas import Input


def _credit_code(value: str) -> str:
    return codes.normalize_credit_code(value)


def _region_code(value: str) -> str:
    return codes.lookup_region(value).code


def _industry_code(value: str) -> str:
    return codes.lookup_industry(value).code


CreditCode = Annotated[str, AfterValidator(_credit_code),
                       Field(description="统一社会信用代码, 18 characters with the GB 32100-2015 check character")]
RegionCode = Annotated[str, AfterValidator(_region_code),
                       Field(description="GB/T 2260 administrative region code, 6 digits", examples=["340100"])]
IndustryCode = Annotated[str, AfterValidator(_industry_code),
                         Field(description="GB/T 4754-2017 industry code, e.g. C3411 or 3411", examples=["C34"])]
NameZh = Annotated[str, Field(min_length=2, max_length=200)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class OwnerIn(Input):
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=200)


class OrgCreate(Input):
    name_zh: NameZh
    name_en: str | None = Field(default=None, max_length=200)
    credit_code: CreditCode
    region_code: RegionCode
    industry_code: IndustryCode
    size_class: SizeClass
    kind: OrgKind = OrgKind.manufacturer
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    owner: OwnerIn | None = Field(default=None, description="The first user, with role owner.")

    @model_validator(mode="after")
    def _location_complete(self) -> OrgCreate:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        return self


class OrgUpdate(Input):
    name_zh: NameZh | None = None
    name_en: str | None = Field(default=None, max_length=200)
    credit_code: CreditCode | None = None
    region_code: RegionCode | None = None
    industry_code: IndustryCode | None = None
    size_class: SizeClass | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name_zh: str
    name_en: str | None
    credit_code: str
    region_code: str
    region_name: str
    industry_code: str
    industry_name_zh: str
    industry_name_en: str
    size_class: SizeClass
    kind: OrgKind
    latitude: float | None
    longitude: float | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
