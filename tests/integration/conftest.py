"""Integration fixtures: the real app over ASGI on a real database, with a cast of agencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from tests.support import OPERATOR_TOKEN, Agency, Hub


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Service settings for one test."""
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, operator_token=OPERATOR_TOKEN
    )


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    """The service running in-process, reached over ASGI."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Hub(client)


@dataclass
class Cast:
    """Lao and Thai central authorities, a Thai executing authority, an auditor, an outsider."""

    lao: Agency
    thai: Agency
    thai_police: Agency
    auditor: Agency
    outsider: Agency
    outsider_police: Agency


@pytest.fixture
async def cast(hub: Hub) -> Cast:
    """Register the cast of agencies."""
    return Cast(
        lao=await hub.register("la-mps", "LA", "central_authority"),
        thai=await hub.register("th-oag", "TH", "central_authority"),
        thai_police=await hub.register("th-ccib", "TH", "executing_authority"),
        auditor=await hub.register("asean-audit", "SG", "auditor"),
        outsider=await hub.register("vn-spp", "VN", "central_authority"),
        outsider_police=await hub.register("vn-a05", "VN", "executing_authority"),
    )


async def in_execution(hub: Hub, cast: Cast) -> str:
    """A Lao request to Thailand, accepted and assigned to the Thai police; its id."""
    from tests.support import mla_content

    rid = str((await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"])
    for action, body in [
        ("acknowledge", {}),
        ("accept", {}),
        ("assign", {"executing_agency": cast.thai_police.id}),
    ]:
        assert (await hub.act(cast.thai, rid, action, body)).status_code == 201
    return rid
