"""Servers and browser helpers of the graph canvas's tests (issue 15).

- `canvas_chain` / `canvas_server`: a five-block regtest chain written with the block writer and
  ingested through the CLI, served like `demo_server`: a transaction paying 2,400 addresses (the
  wide node: paging, and 2,000 nodes on the canvas) and three payments from one address to
  another in three blocks (the fold: three transactions between the same two addresses).
- In the page: `call` awaits a Promise of `window.ftGraph`, `wait_graph` waits for the canvas,
  `canvas_click` clicks or double-clicks a node where the canvas draws it (a real mouse event).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import address_for_script
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.web.app import create_app
from fundtrail.workspace import Actor, Workspace

from web.server import start

CHAIN = "btc-regtest"
WIDE_OUTPUTS = 2_400
PAYMENTS = (1 * w.COIN, 2 * w.COIN, 3 * w.COIN)
T0 = 1_700_000_000
BLOCK_SECONDS = 600


def _key(i: int) -> bytes:
    return i.to_bytes(4, "big", signed=True) * 5


@dataclass
class CanvasChain:
    """The canvas chain's facts, written down while building it (the tests' oracle)."""

    blocks: Path
    wide_txid: str
    wide_addresses: list[str]  # the addresses the wide transaction pays, in output order
    payer: str
    payee: str
    payment_txids: list[str]  # payer -> payee, one per block, in order
    payment_times: list[str]  # ISO UTC of their blocks


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def canvas_chain(base: Path) -> CanvasChain:
    """Write the canvas chain's blocks dir (module doc)."""
    funder, payer, payee = w.p2wpkh(_key(-1)), w.p2wpkh(_key(-2)), w.p2wpkh(_key(-3))
    miner = w.p2wpkh(_key(-4))
    cb0 = w.coinbase_tx(0, [w.TxOut(50 * w.COIN, funder)])
    outs = [w.TxOut(10_000 + i, w.p2wpkh(_key(i))) for i in range(WIDE_OUTPUTS)]
    outs.append(w.TxOut(50 * w.COIN - sum(o.value for o in outs) - 100_000, funder))
    wide = w.Tx(2, [w.TxIn(cb0.txid(), 0, b"\x51")], outs)
    cb1 = w.coinbase_tx(1, [w.TxOut(50 * w.COIN, payer)])
    blocks = [w.build_block(bytes(32), [cb0], T0), ]
    blocks.append(w.build_block(w.block_hash(blocks[-1]), [cb1, wide], T0 + BLOCK_SECONDS))
    prev, left, payments = (cb1.txid(), 0), 50 * w.COIN, []
    for height, amount in enumerate(PAYMENTS, start=2):
        change = left - amount - 10_000
        pay = w.Tx(2, [w.TxIn(prev[0], prev[1], b"\x51")], [w.TxOut(amount, payee), w.TxOut(change, payer)])
        cb = w.coinbase_tx(height, [w.TxOut(50 * w.COIN, miner)])
        blocks.append(w.build_block(w.block_hash(blocks[-1]), [cb, pay], T0 + height * BLOCK_SECONDS))
        prev, left = (pay.txid(), 1), change
        payments.append(pay)
    path = base / "canvas-blocks"
    w.write_blocks_dir(path, blocks, REGTEST)

    def text(script: bytes) -> str:
        found = address_for_script(script, REGTEST)
        assert found is not None
        return found

    return CanvasChain(path, w.display_hex(wide.txid()), [text(o.script) for o in outs[:WIDE_OUTPUTS]], text(payer),
                       text(payee), [w.display_hex(p.txid()) for p in payments],
                       [_iso(T0 + h * BLOCK_SECONDS) for h in range(2, 2 + len(PAYMENTS))])


@dataclass
class GraphServer:
    """A workbench serving a store, with users per role (what `web.browser.login` needs)."""

    url: str
    store: Path
    users: dict[str, str]
    passwords: dict[str, str]
    chain: CanvasChain | None = None
    _uv: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)


def serve_store(store: Path, roles: tuple[str, ...] = ("investigator", "analyst")) -> GraphServer:
    """Users of `roles` added to `store`, and the workbench (graph routes mounted) serving it."""
    passwords = {role: f"{role}-{secrets.token_urlsafe(12)}" for role in roles}
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    for role in roles:
        ws.users_add(role, role=role, password=passwords[role])
    url, uv, thread = start(create_app(Settings.load(store=store, api_refresh_seconds=0)), name="canvas-server")
    return GraphServer(url, store, {r: r for r in roles}, passwords, _uv=uv, _thread=thread)


@contextlib.contextmanager
def canvas_server(base: Path) -> Iterator[GraphServer]:
    """The canvas chain ingested through the CLI and served (module doc); stopped afterwards."""
    chain = canvas_chain(base)
    store = base / "canvas-store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(chain.blocks)]) == 0
    server = serve_store(store)
    server.chain = chain
    try:
        yield server
    finally:
        assert server._uv is not None and server._thread is not None
        server._uv.should_exit = True
        server._thread.join(timeout=30)


# -- in the page ----------------------------------------------------------------------------------
_CALL = """
var done = arguments[arguments.length - 1], args = Array.prototype.slice.call(arguments, 0, -1);
Promise.resolve().then(function () { return (%s); }).then(
  function (v) { done({ok: v === undefined ? null : v}); },
  function (e) { done({error: String((e && e.message) || e)}); });
"""


def call(driver: Any, expression: str, *args: Any) -> Any:
    """Await the JavaScript `expression` (a Promise or a value; `args[i]` are the arguments) in the
    page; its value, or AssertionError with the page's error message."""
    driver.set_script_timeout(120)
    answer = driver.execute_async_script(_CALL % expression, *args)
    assert "error" not in answer, f"{expression}: {answer['error']}"
    return answer["ok"]


def wait_until(driver: Any, script: str, *args: Any, timeout: float = 60) -> Any:
    """The first truthy value of the JavaScript `script` (a `return ...` body)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script, *args))


def wait_graph(driver: Any, timeout: float = 60) -> None:
    """Wait until the canvas has drawn the page's start (or saved canvas) and its first overlay."""
    wait_until(driver, "return document.body.getAttribute('data-graph-ready') === '1'", timeout=timeout)


def open_graph(driver: Any, url: str) -> None:
    """Go to a graph page and wait for its canvas."""
    driver.get(url)
    wait_graph(driver)


def status(driver: Any) -> str:
    """The canvas's status line."""
    return str(driver.execute_script("return document.getElementById('g-status').textContent"))


def visible(driver: Any, selector: str = "node") -> set[str]:
    """Ids of the canvas elements matching the Cytoscape `selector` that the view draws now."""
    return set(driver.execute_script("return ftGraph.cy.$(arguments[0]).not('.off').map(e => e.id())", selector))


def canvas_click(driver: Any, node_id: str, *, double: bool = False) -> None:
    """Click (or double-click) the node where the canvas draws it, with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    where = driver.execute_script(
        "var n = ftGraph.cy.getElementById(arguments[0]); ftGraph.cy.zoom(1.5); ftGraph.cy.center(n);"
        "var p = n.renderedPosition(), c = ftGraph.cy.container();"
        "return [p.x - c.clientWidth / 2, p.y - c.clientHeight / 2];", node_id)
    canvas = driver.find_element(By.ID, "cy")
    chain = ActionChains(driver).move_to_element_with_offset(canvas, int(where[0]), int(where[1]))
    (chain.double_click() if double else chain.click()).perform()
