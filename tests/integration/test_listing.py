"""Request listing: filters and cursor pagination, scoped to what the caller may see."""

from __future__ import annotations

from tests.integration.conftest import Cast
from tests.support import Hub, mla_content, preservation_content


async def _all_pages(hub: Hub, headers: dict[str, str], query: str = "") -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(20):
        url = f"/v1/requests?limit=2{query}" + (f"&cursor={cursor}" if cursor else "")
        page = (await hub.client.get(url, headers=headers)).json()
        assert len(page["items"]) <= 2
        ids += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


async def test_cursor_pagination_and_filters(hub: Hub, cast: Cast) -> None:
    made = []
    for i in range(5):
        content = (mla_content if i % 2 == 0 else preservation_content)(cast.lao.id, cast.thai.id)
        if i == 4:
            content["urgency"] = "urgent"
            content["urgency_justification"] = "the account is being emptied"
        made.append((await hub.submit(cast.lao, content))["id"])
    other = (await hub.submit(cast.outsider, mla_content(cast.outsider.id, cast.thai.id)))["id"]
    await hub.act(cast.thai, made[0], "acknowledge")

    assert await _all_pages(hub, cast.lao.auth) == list(reversed(made))
    assert await _all_pages(hub, cast.thai.auth) == [other, *reversed(made)]
    assert set(await _all_pages(hub, cast.auditor.auth)) == {other, *made}
    assert await _all_pages(hub, cast.outsider_police.auth) == []
    assert await _all_pages(hub, cast.lao.auth, "&kind=preservation") == [made[3], made[1]]
    assert await _all_pages(hub, cast.lao.auth, "&state=acknowledged") == [made[0]]
    assert await _all_pages(hub, cast.lao.auth, "&urgency=urgent") == [made[4]]
    assert await _all_pages(hub, cast.thai.auth, f"&counterparty={cast.outsider.id}") == [other]
    summary = (await hub.client.get("/v1/requests?limit=1", headers=cast.lao.auth)).json()
    assert "content" not in summary["items"][0]
    bad = await hub.client.get("/v1/requests?kind=arrest", headers=cast.lao.auth)
    assert bad.status_code == 400
