"""The small vocabularies of organizations and people, as plain enums (no database imports),
so that light entry points such as the gateway's command line can name them cheaply."""

from __future__ import annotations

import enum


class OrgKind(enum.StrEnum):
    manufacturer = "manufacturer"
    service_provider = "service_provider"
    platform_operator = "platform_operator"
    government = "government"


class SizeClass(enum.StrEnum):
    """Enterprise size per the national classification (大/中/小/微)."""

    large = "large"
    medium = "medium"
    small = "small"
    micro = "micro"


class Role(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    engineer = "engineer"
    viewer = "viewer"
