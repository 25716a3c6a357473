"""`python -m workshop class`: the classroom's worker and the instructor's page (or, with --once, the table)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, jsonify, render_template
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from werkzeug.serving import make_server

from workshop import catalog
from workshop.classroom import ClassroomState, RoomView, current_table, format_table, instructor_worker, summary
from workshop.connection import connect, run_script


async def view(client: Client, name: str) -> RoomView:
    try:
        state = await current_table(client, name)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        state = ClassroomState(name)  # no learner has reported yet: the class's workflow starts with the first
    return summary(state, [m.number for m in catalog.ready_modules()])


def create_app(current_view: Callable[[], RoomView]) -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")))

    @app.get("/")
    def page() -> str:
        return render_template("classroom.html", view=current_view())

    @app.get("/table.json")
    def table():
        return jsonify(current_view())

    return app


async def main(name: str, once: bool, host: str, port: int) -> int:
    client = await connect()
    async with instructor_worker(client, name):
        if once:
            print(format_table(await view(client, name)))
            return 0
        loop = asyncio.get_running_loop()
        app = create_app(lambda: asyncio.run_coroutine_threadsafe(view(client, name), loop).result(timeout=10))
        server = make_server(host, port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"Classroom {name}: the worker runs, the page is at http://{host}:{port}/ . Ctrl-C stops both.", flush=True)
        await stop.wait()
        server.shutdown()
    print("Stopped the classroom's worker and page.", flush=True)
    return 0


def run(name: str, once: bool, host: str, port: int) -> int:
    run_script(main(name, once, host, port))
    return 0  # not reached: run_script ends the process
