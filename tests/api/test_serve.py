"""`fundtrail serve` as a user runs it (a subprocess), route vs CLI `--json` equality, and the air
gap: a full API session during which any connection to a non-loopback address fails the test."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fundtrail.cli.main import main

CHAIN = "btc-regtest"
EXE = Path(sys.executable).parent / "fundtrail"


def _cli_json(capsys, store: Path, *args: str) -> object:
    capsys.readouterr()
    assert main(["-q", "--store", str(store), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_serve_subprocess_prints_url_and_answers(api) -> None:
    proc = subprocess.Popen([str(EXE), "--store", str(api.store), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FUNDTRAIL_USER": "server-op"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("fundtrail listening on http://127.0.0.1:"), line
        base = line.split(" on ")[1].split("/ ")[0]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api.tokens['analyst']}"}) as c:
            r = c.get("/api/v1/status")
            assert r.status_code == 200 and r.json()["chains"][0]["chain"] == CHAIN
            assert c.get("/api/v1/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert api.tokens["analyst"] not in err + out and "Traceback" not in err


def test_serve_sends_no_telemetry_even_when_the_environment_asks(api) -> None:
    """FastAPI exports OpenTelemetry data when `FASTAPI_OTEL_AUTO_CONFIGURE` and an OTLP endpoint are set
    (or refuses to start without the SDK): the server must do neither. The endpoint is a loopback
    listener of this test, which must see no connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    otlp = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {**os.environ, "FASTAPI_OTEL_AUTO_CONFIGURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
           "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
           "OTEL_METRIC_EXPORT_INTERVAL": "100", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    proc = subprocess.Popen([str(EXE), "--store", str(api.store), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("fundtrail listening on http://127.0.0.1:"), line
        base = line.split(" on ")[1].split("/ ")[0]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api.tokens['analyst']}"}) as c:
            for _ in range(5):
                assert c.get("/api/v1/status").status_code == 200
            assert c.get("/api/v1/nowhere").status_code == 404
        with pytest.raises(TimeoutError):  # nobody came: not during the requests, not in the next half second
            listener.accept()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        listener.close()
    assert proc.returncode == 0, err
    assert "telemetry" not in err.lower(), err  # not even tried (without the SDK it fails with a warning)


def test_serve_workers_share_one_audit_chain(api) -> None:
    """`--workers 2`: two processes on one socket append to one audit log; concurrent requests
    leave one unbroken hash chain with every request in it, and `audit verify` passes."""
    from concurrent.futures import ThreadPoolExecutor

    from fundtrail.workspace import Workspace

    log = api.store / "audit" / "audit.log"
    before = len(log.read_bytes().splitlines()) if log.exists() else 0
    proc = subprocess.Popen([str(EXE), "--store", str(api.store), "serve", "--port", "0", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FUNDTRAIL_USER": "server-op"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("fundtrail listening on http://127.0.0.1:"), line
        base = line.split(" on ")[1].split("/ ")[0]
        headers = {"Authorization": f"Bearer {api.tokens['analyst']}"}

        def get(i: int) -> int:
            with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
                return c.get("/api/v1/status", params={"i": i}).status_code

        with ThreadPoolExecutor(16) as pool:
            assert list(pool.map(get, range(64))) == [200] * 64
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            assert len(children.read_text().split()) >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    recs = [json.loads(x) for x in log.read_bytes().splitlines()]
    mine = [r for r in recs[before:] if r["params"].get("i") is not None]
    assert sorted(int(r["params"]["i"]) for r in mine) == list(range(64))
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(recs))
    assert Workspace.open(store=api.store).audit_verify().ok


@pytest.mark.parametrize(("args", "field"), [
    (["--host", "0.0.0.0"], "--host"),
    (["--host", "10.1.2.3", "--tls-cert", "/nonexistent.pem"], "--tls-key"),
    (["--port", "70000"], "--port"),
    (["--workers", "0"], "--workers"),
])
def test_serve_refuses_unsafe_or_bad_bindings(api, capsys, args: list[str], field: str) -> None:
    code = main(["--store", str(api.store), "serve", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and field in err, err


def test_serve_missing_store_is_one_line(tmp_path: Path, capsys) -> None:
    code = main(["--store", str(tmp_path / "none"), "serve", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 6 and err.count("\n") == 1 and "Traceback" not in err


def test_routes_equal_cli_json(api, capsys) -> None:
    a, b = api.addresses[3], api.addresses[4]
    with api.client("investigator") as c:
        txid = c.get(f"/api/v1/{CHAIN}/addresses/{a}/txs").json()["txs"][0]["txid"]
        pairs = [
            ("/api/v1/status", ["status", "--json"]),
            (f"/api/v1/search?q={a}", ["search", a, "--json"]),
            (f"/api/v1/{CHAIN}/addresses/{a}", ["address", a, "--chain", CHAIN, "--json"]),
            (f"/api/v1/{CHAIN}/addresses/{a}/txs?limit=3", ["txs", a, "--chain", CHAIN, "--limit", "3", "--json"]),
            (f"/api/v1/{CHAIN}/txs/{txid}", ["tx", txid, "--chain", CHAIN, "--json"]),
            (f"/api/v1/{CHAIN}/clusters/{a}", ["cluster", "show", a, "--chain", CHAIN, "--json"]),
            (f"/api/v1/{CHAIN}/clusters/why?a={a}&b={b}", ["cluster", "why", a, b, "--chain", CHAIN, "--json"]),
            (f"/api/v1/{CHAIN}/addresses/{a}/risk", ["risk", a, "--chain", CHAIN, "--json"]),
        ]
        for path, args in pairs:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert r.json() == _cli_json(capsys, api.store, *args), path
        r = c.post(f"/api/v1/{CHAIN}/trace", json={"seeds": [txid], "policy": "poison", "hops": 2})
        cli = _cli_json(capsys, api.store, "trace", txid, "--chain", CHAIN, "--policy", "poison", "--hops", "2",
                        "--json")
        assert r.status_code == 200
        doc = r.json()
        assert {k: v for k, v in doc.items() if k != "elapsed_ms"} == {k: v for k, v in cli.items()
                                                                      if k != "elapsed_ms"}


def test_air_gap_full_session(api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route used once with a guard refusing connections to anything but loopback."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def loopback_only(address: object) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host in ("127.0.0.1", "::1", "localhost") or host.startswith("/"))

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback_only(address):
            attempts.append(address)
            raise OSError(f"air gap: connection to {address} refused by the test")
        real_connect(self, address)

    real_create = socket.create_connection

    def guarded_create(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        if not loopback_only(address):
            attempts.append(address)
            raise OSError(f"air gap: connection to {address} refused by the test")
        return real_create(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create)
    a, b = api.addresses[5], api.addresses[6]
    with api.client("investigator") as c:
        txid = c.get(f"/api/v1/{CHAIN}/addresses/{a}/txs").json()["txs"][0]["txid"]
        session = [
            ("GET", "/api/v1/status", {}), ("GET", "/api/v1/search", {"params": {"q": a}}),
            ("GET", f"/api/v1/{CHAIN}/addresses/{a}", {}), ("GET", f"/api/v1/{CHAIN}/txs/{txid}", {}),
            ("GET", f"/api/v1/{CHAIN}/clusters/{a}", {}), ("GET", f"/api/v1/{CHAIN}/clusters/{a}/members", {}),
            ("GET", f"/api/v1/{CHAIN}/clusters/why", {"params": {"a": a, "b": b}}),
            ("GET", "/api/v1/tags", {"params": {"address": a}}), ("GET", "/api/v1/tags", {"params": {"q": "ex"}}),
            ("GET", f"/api/v1/{CHAIN}/addresses/{a}/risk", {}),
            ("POST", "/api/v1/screen", {"json": {"inputs": [a, b, txid]}}),
            ("POST", "/api/v1/screen", {"content": f"address\n{a}\n{b}\n".encode(),
                                        "headers": {"content-type": "text/csv", "accept": "text/csv"}}),
            ("POST", "/api/v1/screen", {"files": {"file": ("s.csv", f"id,address\n1,{a}\n".encode())}}),
            ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [txid], "hops": 3}}),
            ("GET", f"/api/v1/{CHAIN}/paths", {"params": {"from": txid, "to": b}}),
            ("GET", "/api/docs", {}), ("GET", "/api/docs/assets/swagger-ui-bundle.js", {}),
            ("GET", "/api/openapi.json", {}),
        ]
        answers = [c.request(m, p, **kw) for m, p, kw in session]
    assert [r.status_code for r in answers] == [200] * len(session), [r.text[:200] for r in answers]
    csv_text = answers[11].text.splitlines()
    assert csv_text[0] == "address,input,kind,currency,chain,score,severity,profile,top_reasons," \
                          "activity_in_store,exposure_computed,note,error" and len(csv_text) == 3
    assert answers[12].json()["rows"][0]["input"] == a
    assert attempts == []
