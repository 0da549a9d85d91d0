"""The address summary's fast path (`api.hot`) answers exactly as the app does: same status,
headers, body and audit record. The first request of a token goes through the app (the token is
not yet verified by this server), the next ones through the fast path, so each case compares the
two on the same server. The shared `api` server refreshes on every request (the fast path then
always declines), so these tests use a server of their own with the default refresh period
(`roomy`, with room for many requests per token) and `tight` for the rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fundtrail.api import hot
from tests.api.conftest import build_store, start, stop
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace

CHAIN = "btc-regtest"
KEPT = ("user", "role", "via", "action", "subjects", "params", "result_size", "result_unit", "outcome", "status")


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server with the default refresh period and a large burst per token."""
    server = start(*build_store(tmp_path_factory.mktemp("roomy")), api_burst=1000)
    yield server
    stop(server)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request seen by the fast path was answered by it (True) or declined."""
    seen: list[bool] = []
    original = hot.HotAddress.answer

    async def spy(self: hot.HotAddress, scope: Any) -> Any:
        response = await original(self, scope)
        seen.append(response is not None)
        return response

    monkeypatch.setattr(hot.HotAddress, "answer", spy)
    return seen


def _records(store: Any, n: int) -> list[dict[str, Any]]:
    ws = Workspace.open(Settings.load(store=store))
    return [{k: r.model_dump()[k] for k in KEPT} for r in ws.audit_show(limit=n).records]


def _same(a: Any, b: Any) -> None:
    assert a.status_code == b.status_code
    assert a.content == b.content
    assert [(k, v) for k, v in a.headers.multi_items() if k != "date"] == \
        [(k, v) for k, v in b.headers.multi_items() if k != "date"]


@pytest.mark.parametrize(("role", "address"),
                         [("analyst", None), ("investigator", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT")])
def test_fast_path_answers_as_the_app(roomy, answered, role, address) -> None:
    path = f"/api/v1/{CHAIN}/addresses/{address or roomy.addresses[3]}"
    with roomy.client(role) as c:
        slow, fast = c.get(path), c.get(path)
    assert answered == [False, True]
    _same(slow, fast)
    assert (slow.status_code == 200) == (address is None)
    first, second = _records(roomy.store, 2)
    assert first == second and first["action"] == "GET /api/v1/{chain}/addresses/{address}"


def test_fast_path_declines_what_it_does_not_handle(roomy, answered, err) -> None:
    a = roomy.addresses[4]
    with roomy.client("analyst") as c:
        c.get(f"/api/v1/{CHAIN}/addresses/{a}")  # the token is known from here on
        answered.clear()
        assert c.get(f"/api/v1/{CHAIN}/addresses/{a}?x=1").status_code == 200
        assert err(c.get(f"/api/v1/nochain/addresses/{a}"))["field"] == "chain"
        assert c.get(f"/api/v1/{'c' * 65}/addresses/{a}").status_code == 422
        assert c.get(f"/api/v1/{CHAIN}/addresses/{a}/").status_code == 307  # the app's redirect_slashes
    with roomy.client("auditor") as c:
        assert err(c.get(f"/api/v1/{CHAIN}/addresses/{a}"))["code"] == "forbidden"
        assert err(c.get(f"/api/v1/{CHAIN}/addresses/{a}"))["code"] == "forbidden"
    with roomy.client(None, Authorization="Basic x") as c:
        assert err(c.get(f"/api/v1/{CHAIN}/addresses/{a}"))["code"] == "unauthenticated"
    assert not any(answered)


def test_fast_path_rate_limit(tight, answered, err) -> None:
    with tight.client("investigator") as c:
        codes = [c.get(f"/api/v1/{CHAIN}/addresses/{tight.addresses[5]}") for _ in range(12)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and err(limited[0])["code"] == "rate_limited" and int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].headers["content-security-policy"].startswith("default-src 'self'")
    assert _records(tight.store, 1)[0]["outcome"] == "rate_limited" and any(answered)


def test_fast_path_sees_a_revocation_at_the_very_next_request(roomy, answered, err) -> None:
    """The token cache is keyed by the access stamp, which the fast path checks in the pool thread
    before answering: a revoked token is refused by the next request, through the app."""
    import httpx

    path = f"/api/v1/{CHAIN}/addresses/{roomy.addresses[6]}"
    with roomy.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"user": "investigator1"}).json()
        with httpx.Client(base_url=roomy.url, headers={"Authorization": f"Bearer {made['token']}"}) as c:
            assert c.get(path).status_code == 200 and c.get(path).status_code == 200
            assert answered[-2:] == [False, True]  # verified by the app, then answered by the fast path
            assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
            answered.clear()
            r = c.get(path)
    assert r.status_code == 401 and err(r)["code"] == "unauthenticated" and answered == [False]
    last = _records(roomy.store, 1)[0]
    assert last["outcome"] == "unauthenticated" and last["action"] == "GET /api/v1/{chain}/addresses/{address}"


def _state(server: Any) -> Any:
    return server.uv.config.app.state.fundtrail


def test_concurrent_fast_path_requests_are_each_recorded_once_in_one_chain(roomy, answered) -> None:
    """64 requests at once on the fast path: the committer thread writes their records in batches,
    each request gets its own answer, and the log holds every one exactly once, chained."""
    import asyncio

    import httpx

    paths = [f"/api/v1/{CHAIN}/addresses/{a}" for a in roomy.addresses[10:74]]
    with roomy.client("analyst") as c:
        assert c.get(paths[0]).status_code == 200  # the token verified by the app first
    before = Workspace.open(Settings.load(store=roomy.store)).audit_verify().records
    answered.clear()

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {roomy.tokens['analyst']}"}
        async with httpx.AsyncClient(base_url=roomy.url, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=32)) as c:
            return list(await asyncio.gather(*(c.get(p) for p in paths)))

    got = asyncio.run(burst())
    assert [r.status_code for r in got] == [200] * len(paths) and all(answered) and len(answered) == len(paths)
    assert [r.json()["address"] for r in got] == roomy.addresses[10:74]
    result = Workspace.open(Settings.load(store=roomy.store)).audit_verify()
    assert result.ok and result.records == before + len(paths)
    recs = _records(roomy.store, len(paths))
    assert sorted(s for r in recs for s in r["subjects"]) == sorted(roomy.addresses[10:74])
    assert all(r["outcome"] == "ok" and r["user"] == "analyst1" for r in recs)


def test_fast_path_refuses_its_answer_when_the_record_cannot_be_written(roomy, answered, err) -> None:
    path = f"/api/v1/{CHAIN}/addresses/{roomy.addresses[7]}"
    log = roomy.store / "audit" / "audit.log"
    with roomy.client("analyst") as c:
        assert c.get(path).status_code == 200
        answered.clear()
        log.rename(log.with_name("kept.log"))
        log.mkdir()  # the log cannot be opened for appending
        try:
            r = c.get(path)
        finally:
            log.rmdir()
            log.with_name("kept.log").rename(log)
        assert answered == [True] and r.status_code == 503 and err(r)["code"] == "audit_unavailable"
        assert roomy.addresses[7] not in r.text
        assert c.get(path).status_code == 200  # the log back: answered and recorded again
    assert Workspace.open(Settings.load(store=roomy.store)).audit_verify().ok


def test_a_due_refresh_runs_in_the_background_and_a_failed_one_goes_back_to_the_app(tmp_path, answered, err) -> None:
    """With a refresh period, the fast path starts a due refresh in the pool and answers from the
    state as it is; another process's change shows within the period. A refresh that fails sends
    the next requests through the app, which refreshes in the request and reports the failure;
    once refreshing works again the fast path resumes."""
    import time

    from fundtrail.workspace.tags import TagAddRequest

    server = start(*build_store(tmp_path), api_burst=1000, api_refresh_seconds=1)
    try:
        address = server.addresses[8]
        path = f"/api/v1/{CHAIN}/addresses/{address}"
        with server.client("analyst") as c:
            assert c.get(path).json()["tags"] == []
            answered.clear()
            ws = Workspace.open(Settings.load(store=server.store), writable=True,
                                actor=Actor(user="other", via="python"))
            ws.tags_add(TagAddRequest(address=address, label="Desk Q", category="exchange",
                                        currency="BTC-REGTEST"))
            deadline, tags = time.monotonic() + 20, []
            while not tags and time.monotonic() < deadline:
                time.sleep(0.2)
                tags = c.get(path).json()["tags"]
            assert [t["label"] for t in tags] == ["Desk Q"] and all(answered)

            state = _state(server)
            real = state.workspace.refresh

            def broken() -> None:
                raise RuntimeError("the catalog is damaged")

            state.workspace.refresh = broken
            try:
                time.sleep(1.1)  # a refresh falls due
                answered.clear()
                assert c.get(path).status_code == 200  # answered from the state as it is, refresh started
                deadline = time.monotonic() + 10
                while not state._refresh_failed and time.monotonic() < deadline:
                    time.sleep(0.05)
                failed = c.get(path)
                assert answered == [True, False] and failed.status_code == 500
                assert err(failed)["code"] == "internal"
            finally:
                state.workspace.refresh = real
            time.sleep(1.1)
            answered.clear()
            assert c.get(path).status_code == 200 and c.get(path).status_code == 200
            assert answered == [False, True]  # the app's path refreshed; the fast path again
    finally:
        stop(server)
