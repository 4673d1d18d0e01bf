"""The engine inside a real Jupyter kernel: it lives on the kernel's own loop (no
``asyncio.run``, no thread, no nest_asyncio), cells keep running while it streams, and
``stop()`` leaves no task behind."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager

CELL_TIMEOUT_S = 60


class Kernel:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def run(self, code: str) -> str:
        """Execute one cell; returns its stdout+stderr text; fails on an error."""
        chunks: list[str] = []
        errors: list[str] = []

        def on_output(message: dict[str, Any]) -> None:
            kind, content = message["header"]["msg_type"], message["content"]
            if kind == "stream":
                chunks.append(content["text"])
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "execute_result":
                chunks.append(content["data"].get("text/plain", "") + "\n")

        reply = await self.client.execute_interactive(
            textwrap.dedent(code), timeout=CELL_TIMEOUT_S, output_hook=on_output
        )
        assert reply["content"]["status"] == "ok", errors
        return "".join(chunks)

    async def run_cell(self, code: str, cell_id: str) -> str:
        """``run``, as JupyterLab sends it: the request names its cell (``cellId``)."""
        content = {
            "code": textwrap.dedent(code),
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        request = self.client.session.msg("execute_request", content, metadata={"cellId": cell_id})
        self.client.shell_channel.send(request)
        chunks: list[str] = []
        errors: list[str] = []
        async with asyncio.timeout(CELL_TIMEOUT_S):
            while True:
                message = await self.client.get_iopub_msg()
                if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                    continue
                kind, body = message["msg_type"], message["content"]
                if kind == "stream":
                    chunks.append(body["text"])
                elif kind == "error":
                    errors.append(f"{body['ename']}: {body['evalue']}")
                elif kind == "status" and body["execution_state"] == "idle":
                    break
        assert not errors, errors
        return "".join(chunks)


@pytest.fixture
async def kernel(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Kernel]:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's migration note
    manager = AsyncKernelManager(kernel_name="python3")
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield Kernel(client)
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


@pytest.mark.slow
async def test_engine_streams_in_a_kernel_while_other_cells_run(kernel: Kernel) -> None:
    out = await kernel.run(
        """
        import asyncio
        from workspace import Workspace
        from workspace.sim import SimConfig
        from workspace.engine.config import EngineConfig
        before = set(asyncio.all_tasks())
        ws = Workspace(
            feed="sim",
            sim=SimConfig(symbols=("BTCUSDT",), ticker_interval_s=0.05,
                          trade_interval_s=0.02, book_interval_s=0.02),
            engine=EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2),
        )
        await ws.start()
        print("feed", ws.status["feed"])
        """
    )
    assert "feed connected" in out

    await kernel.run(
        """
        messages = []
        got_tick = asyncio.Event()

        @ws.on_tick("BTCUSDT")
        def strategy(tick):
            got_tick.set()

        ws.engine.subscribe_messages(listener=messages.append)
        ws.subscribe("BTCUSDT")  # not awaited, as typed in a notebook
        """
    )
    assert "tick ok" in await kernel.run(
        "await asyncio.wait_for(got_tick.wait(), 20); print('tick ok')"
    )
    assert "2" in await kernel.run("print(1 + 1)")  # the kernel is free while it streams
    assert "FILLED" in await kernel.run("order = ws.buy('BTCUSDT', 0.001); print(order.status)")

    out = await kernel.run(
        """
        got_update = asyncio.Event()
        ws.engine.subscribe_messages(
            listener=lambda m: m["type"] == "POSITION_UPDATE" and m["positions"]
            and got_update.set()
        )
        await asyncio.wait_for(got_update.wait(), 20)
        kinds = {m["type"] for m in messages}
        print(sorted(kinds & {"ORDER_UPDATE", "MARKET_UPDATE", "POSITION_UPDATE"}))
        """
    )
    assert "['MARKET_UPDATE', 'ORDER_UPDATE', 'POSITION_UPDATE']" in out

    out = await kernel.run(
        """
        raised = asyncio.Event()

        @ws.on_tick("BTCUSDT")
        def broken(tick):
            raised.set()
            raise ValueError("boom in a strategy")

        await asyncio.wait_for(raised.wait(), 20)
        await asyncio.wait_for(got_tick.wait(), 20)
        got_tick.clear()
        await asyncio.wait_for(got_tick.wait(), 20)  # the other strategy still runs
        print("errors", len(ws.errors) > 0, ws.errors[0].error)
        """
    )
    assert "errors True ValueError: boom in a strategy" in out

    out = await kernel.run(
        """
        await ws.stop()
        def ours(task):  # the kernel runs each cell in tasks of its own: not ours
            code = getattr(task.get_coro(), "cr_code", None)
            where = code.co_filename if code else ""
            return "ipykernel" not in where and "IPython" not in where

        left = [t.get_name() for t in asyncio.all_tasks() - before if ours(t)]
        print("left", left)
        """
    )
    assert "left []" in out


@pytest.mark.slow
async def test_a_cell_run_again_replaces_its_dashboard(kernel: Kernel) -> None:
    """Run again, a cell's ``ws.dashboard()`` left the earlier one live in the kernel,
    listening and sending updates to views that no longer exist."""
    await kernel.run(
        """
        from workspace import Workspace
        from workspace.sim import SimConfig
        ws = Workspace(feed="sim", sim=SimConfig(symbols=("BTCUSDT",)))
        await ws.start()
        made = []
        """
    )
    board = "made.append(ws.dashboard(symbols=['BTCUSDT']))"
    await kernel.run_cell(board, "cell-a")
    await kernel.run_cell(board, "cell-a")  # the same cell, run again
    await kernel.run_cell(board, "cell-b")
    await kernel.run_cell(f"{board}; {board}", "cell-c")  # two in one run: both stay
    await kernel.run(board)  # a front end that names no cell
    out = await kernel.run("print([b.comm is None for b in made]); await ws.stop()")
    assert "[True, False, False, False, False, False]" in out


@pytest.mark.slow
async def test_a_cell_run_again_says_that_its_earlier_workspace_still_runs(
    kernel: Kernel,
) -> None:
    """Run again, ``ws = Workspace(...); await ws.start()`` left the first workspace
    running unseen: its strategies trading on its account, its panels updating."""
    await kernel.run("from workspace import Workspace\nstarted = []")
    cell = "ws = Workspace(feed='sim'); await ws.start(); started.append(ws)"
    assert "EarlierWorkspaceWarning" not in await kernel.run_cell(cell, "cell-w")
    again = await kernel.run_cell(cell, "cell-w")
    assert "EarlierWorkspaceWarning: an earlier run of this cell started <Workspace" in again
    assert "which still runs" in again
    await kernel.run("for each in started: await each.stop()")
    assert "EarlierWorkspaceWarning" not in await kernel.run_cell(cell, "cell-w")
    await kernel.run("await started[-1].stop()")
