"""Demo data for `make demo`: a platform operator, three factories, a consultancy and a city bureau.

Seeding is idempotent: an organization whose credit code is already stored is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core import codes
from commonworks.core.auth import service as auth_service
from commonworks.core.auth.models import Role, User
from commonworks.core.auth.schemas import UserCreate
from commonworks.core.orgs import service as org_service
from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
from commonworks.core.orgs.schemas import OrgCreate

DEMO_PASSWORD = "commonworks-demo"


@dataclass(frozen=True)
class DemoOrg:
    name_zh: str
    name_en: str
    credit17: str
    region: str
    industry: str
    size: SizeClass
    kind: OrgKind
    lat: float
    lon: float
    domain: str
    users: tuple[tuple[str, str, Role], ...]


DEMO_ORGS = (
    DemoOrg("长三角工业互联网服务中心", "Yangtze Delta Industrial Internet Service Centre", "12340100MB1A2B3C4",
            "340100", "I65", SizeClass.medium, OrgKind.platform_operator, 31.82, 117.23, "yrd-platform.cn",
            (("operator", "运营 王敏", Role.owner),)),
    DemoOrg("合肥精工数控加工有限公司", "Hefei Jinggong CNC Machining Co., Ltd.", "91340100MA2N0C0Q0",
            "340100", "C3484", SizeClass.small, OrgKind.manufacturer, 31.86, 117.28, "hefei-cnc.cn",
            (("owner", "张伟", Role.owner), ("engineer", "李娜", Role.engineer))),
    DemoOrg("青岛海润精密注塑有限公司", "Qingdao Hairun Precision Injection Moulding Co., Ltd.", "91370200MA3C4D5E6",
            "370200", "C2929", SizeClass.small, OrgKind.manufacturer, 36.07, 120.38, "hairun-mould.cn",
            (("owner", "刘洋", Role.owner), ("engineer", "陈静", Role.engineer))),
    DemoOrg("芜湖恒信钣金制造有限公司", "Wuhu Hengxin Sheet Metal Co., Ltd.", "91340200MA2T7U8W9",
            "340200", "C3311", SizeClass.micro, OrgKind.manufacturer, 31.35, 118.43, "hengxin-sheet.cn",
            (("owner", "赵磊", Role.owner),)),
    DemoOrg("安徽智造数字化咨询有限公司", "Anhui Smart Manufacturing Digital Consulting Co., Ltd.", "91340100MA8P9Q0R1",
            "340100", "M75", SizeClass.micro, OrgKind.service_provider, 31.79, 117.30, "ah-smartmfg.cn",
            (("owner", "孙芳", Role.owner),)),
    DemoOrg("合肥市经济和信息化局", "Hefei Bureau of Economy and Information Technology", "11340100003000000",
            "340100", "S92", SizeClass.medium, OrgKind.government, 31.82, 117.23, "hefei-jxj.gov.cn",
            (("analyst", "周强", Role.viewer),)),
)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    organization: str
    role: Role


def seed(session: Session) -> list[DemoAccount]:
    """Create the demo organizations and users that are missing; return every demo account."""
    accounts: list[DemoAccount] = []
    for spec in DEMO_ORGS:
        credit_code = codes.credit_code_with_check(spec.credit17)
        org = session.scalar(select(Organization).where(Organization.credit_code == credit_code))
        if org is None:
            org = org_service.create(session=session, data=OrgCreate(
                name_zh=spec.name_zh, name_en=spec.name_en, credit_code=credit_code, region_code=spec.region,
                industry_code=spec.industry, size_class=spec.size, kind=spec.kind, latitude=spec.lat,
                longitude=spec.lon))
        for local, name, role in spec.users:
            email = f"{local}@{spec.domain}"
            if session.scalar(select(User.id).where(User.email == email)) is None:
                auth_service.create_user(session=session, org_id=org.id, data=UserCreate(
                    email=email, display_name=name, password=DEMO_PASSWORD, role=role))
            accounts.append(DemoAccount(email=email, password=DEMO_PASSWORD, organization=spec.name_zh, role=role))
    session.flush()
    return accounts
