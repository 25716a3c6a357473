"""`python -m workshop`: everything a learner and an instructor run during the course."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from workshop import build, catalog, progress, scaffold, servers, settings
from workshop.paths import EXERCISES, NOTEBOOKS, ROOT, SOLUTIONS
from workshop.processes import Child, run_child, stop_signals
from workshop.services import Services
from workshop.targets import Target


class WorkshopError(Exception):
    """A problem the learner can fix; printed without a stack trace."""


# --------------------------------------------------------------------------- which folder of modules


def modules_root(solution: bool = False) -> Path:
    """solutions/ with --solution; else WORKSHOP_MODULES_DIR when set; else exercises/."""
    if solution:
        return SOLUTIONS
    chosen = settings.current().modules_dir
    if chosen is None:
        return EXERCISES
    if not chosen.is_dir():
        raise WorkshopError(f"{settings.MODULES_DIR}={chosen} is not a folder of modules.")
    return chosen


def target_of(args: argparse.Namespace) -> Target:
    root = modules_root(getattr(args, "solution", False))
    return Target({SOLUTIONS: "solutions", EXERCISES: "exercises"}.get(root, root.name), root)


def module_of(args: argparse.Namespace) -> catalog.Module:
    """The module named on the command line, or, without one, the module the learner is on."""
    if args.module:
        return catalog.get(args.module)
    record = progress.load()
    if record.current:
        return catalog.get(record.current)
    for module in catalog.ready_modules():
        if set(record.of(module.number).passed) != {p.letter for p in module.parts}:
            return module
    return catalog.ready_modules()[-1]


def module_command(target: Target, module: catalog.Module, file: str, extra: list[str] | None = None) -> list[str]:
    name = file.removesuffix(".py")
    if not (target.root / module.folder / f"{name}.py").exists():
        raise WorkshopError(f"{target.root.name}/{module.folder}/{name}.py does not exist.")
    # Through workshop.launch: a file of the learner's that does not load is named in one line.
    return [sys.executable, "-m", "workshop.launch", f"{target.package}.{module.folder}.{name}", *(extra or [])]


def module_env(target: Target) -> dict[str, str]:
    env = settings.child_env(dataclasses.replace(settings.current(), modules_dir=target.root))
    env.update(target.python_path())
    return env


# --------------------------------------------------------------------------- worker and run


def watch_changes(folder: Path, stop: threading.Event, ready: str) -> Iterator[set[str]]:
    """The sets of Python files changed under ``folder``, until ``stop`` is set. ``ready`` is printed once
    the watcher is in place, so a file saved after the message is never missed."""
    import watchfiles

    announced = False
    for changes in watchfiles.watch(folder, watch_filter=watchfiles.PythonFilter(), debounce=400, rust_timeout=250,
                                    yield_on_timeout=True, stop_event=stop, raise_interrupt=False):
        if not announced:
            print(ready, flush=True)
            announced = True
        if changes:
            yield {path for _, path in changes}


def cmd_worker(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    target = target_of(args)
    command = module_command(target, module, "worker")
    env, cwd = module_env(target), target.root.parent
    if args.debug:
        env[settings.LOG_LEVEL] = "DEBUG"
    if not args.watch:
        return run_child(command, env, cwd)

    folder = target.root / module.folder
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    with stop_signals(on_signal):
        child = Child(command, env, cwd)
        ready = f"Watching {folder.relative_to(cwd)}: the worker restarts whenever you save a file there."
        for changes in watch_changes(folder, stop, ready):
            names = ", ".join(sorted({Path(path).name for path in changes}))
            print(f"\n{names} changed: restarting the worker.", flush=True)
            child.stop()
            child = Child(command, env, cwd)
        code = child.stop(received[0] if received else signal.SIGINT)
    print("Stopped watching.", flush=True)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    target = target_of(args)
    runner_args = list(args.runner_args)
    if any(arg in ("-h", "--help") for arg in runner_args):
        print(f"usage: python -m workshop run {module.number} [--solution] [runner options]\n\n"
              f"  --solution   run solutions/{module.folder} instead of exercises/{module.folder}\n\n"
              "The runner's own options:\n", flush=True)
    return run_child(module_command(target, module, module.runner, runner_args), module_env(target), target.root.parent)


# --------------------------------------------------------------------------- check and hint


def cmd_check(args: argparse.Namespace) -> int:

    module = module_of(args)
    target = target_of(args)
    if not args.watch:
        return _check_once(module, target, args.verbose, record=not args.solution)

    services = Services(borrow_from_up=True)
    stop = threading.Event()
    folder = target.root / module.folder
    try:
        with stop_signals(lambda signum: stop.set()):
            _check_once(module, target, args.verbose, record=not args.solution, services=services)
            ready = f"\nWatching {folder}: the checks run again whenever you save a file there. Ctrl-C stops."
            for _ in watch_changes(folder, stop, ready):
                target.forget_modules()
                print("\n" + "-" * 72, flush=True)
                _check_once(module, target, args.verbose, record=not args.solution, services=services)
    finally:
        services.stop()
    print("Stopped watching.", flush=True)
    return 0


def _check_once(module: catalog.Module, target: Target, verbose: bool, record: bool,
                services: Services | None = None) -> int:
    from workshop import checks

    where = f"{target.root.name}/{module.folder}"
    print(f"Checking module {module.number}, {module.title} ({where}) ...", flush=True)
    try:
        result = checks.run_checks(module, target, verbose=verbose, services=services)
    except checks.CheckError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    for verdict in result.verdicts:
        print(f"  Part {verdict.part.letter}  {'passed ' if verdict.passed else 'not yet'}  {verdict.part.title}")
        for line in verdict.failures:
            print(f"            {line}")
    print(f"({result.seconds:.1f} s)")
    saved = progress.load()
    if record:
        mine = saved.of(module.number)
        mine.passed = result.passed
        mine.checked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        saved.current = module.number
    first = result.first_open
    if record:
        from workshop import classroom

        classroom.report_in_background(classroom.Report(
            settings.current().learner, module.number, [v.part.letter for v in result.verdicts], result.passed,
            first.failures[0] if first and first.failures else ""))
    if first is None:
        print(f"Module {module.number} is done. Well done!")
        if record:
            progress.save(saved)
        return 0
    hint = _next_hint(module, first.part, saved)
    if record:
        progress.save(saved)
    print(f"\n{hint}\nMore hints: python -m workshop hint {module.number}", flush=True)
    return 1


def _next_hint(module: catalog.Module, part: catalog.Part, saved: progress.Progress) -> str:
    """The next hint of ``part`` that the learner has not seen (and note it as seen)."""
    shown = saved.of(module.number).hints_shown
    index = shown.get(part.letter, 0)
    if index >= len(part.hints):
        return (f"You have seen all {len(part.hints)} hints for Part {part.letter}. The solved code is in "
                f"solutions/{module.folder}/ (look for '# >>> Part {part.letter}').")
    shown[part.letter] = index + 1
    return f"Hint {index + 1} of {len(part.hints)} for Part {part.letter}, {part.title}:\n  {part.hints[index]}"


def cmd_hint(args: argparse.Namespace) -> int:
    module = module_of(args)
    saved = progress.load()
    passed = set(saved.of(module.number).passed)
    part = next((p for p in module.parts if p.letter not in passed), None)
    if part is None:
        print(f"Every Part of module {module.number} passes its checks: no hint needed.")
        return 0
    saved.current = module.number
    print(_next_hint(module, part, saved))
    progress.save(saved)
    return 0


# --------------------------------------------------------------------------- list, reset, build, new


def status_of(module: catalog.Module, saved: progress.Progress, root: Path) -> str:
    passed = set(saved.of(module.number).passed)
    if passed and passed == {p.letter for p in module.parts}:
        return "done"
    if passed or build.differences(module, root):
        return "in progress"
    return "not started"


def cmd_list(args: argparse.Namespace) -> int:
    saved = progress.load()
    root = modules_root()
    print(f"{'':2}{'module':<8}{'title':<36}{'time':>7}  status")
    for module in catalog.modules():
        status = status_of(module, saved, root) if module.ready else "coming soon"
        here = "   <- you are here" if module.number == saved.current else ""
        print(f"{'':2}{module.number:<8}{module.title:<36}{module.timebox_minutes:>4} min  {status}{here}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    root = modules_root()
    if root == SOLUTIONS:
        raise WorkshopError("reset restores exercises; solutions/ is written by hand.")
    changed = build.differences(module, root)
    if not changed:
        print(f"{root.name}/{module.folder} is already pristine.")
        return 0
    print("These files differ from the pristine exercise:\n  " + "\n  ".join(changed))
    if not args.yes:
        if not sys.stdin.isatty():
            raise WorkshopError("Not resetting without confirmation: run again with --yes to overwrite them.")
        answer = input("Overwrite them with the pristine exercise? Your changes will be lost. [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing was changed.")
            return 1
    build.write_module(module, root)
    saved = progress.load()
    saved.modules.pop(module.number, None)
    progress.save(saved)
    print(f"{root.name}/{module.folder} is pristine again.")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    only = catalog.get(args.module) if args.module else None
    changed = build.build_all(check=args.check, only=only)
    if args.check:
        if changed:
            print("exercises/ differs from what `python -m workshop build` makes from solutions/:\n  "
                  + "\n  ".join(changed) + "\nRun `python -m workshop build` and commit the result.")
            return 1
        print("exercises/ matches solutions/.")
        return 0
    print(f"Rebuilt exercises/ from solutions/ ({len(changed)} files changed).")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    created = scaffold.new_module(args.number, topic=args.topic, title=args.title, goal=args.goal)
    print("Created:\n  " + "\n  ".join(str(path.relative_to(ROOT)) for path in created))
    print("Next: follow the checklist in CONTRIBUTING.md, from step 2.")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from workshop import doctor

    marks = {doctor.OK: "  ok  ", doctor.WARN: "  warn", doctor.FAIL: "  FAIL"}
    print("Checking this setup ...", flush=True)
    code = doctor.run(
        {"Temporal server": (args.port, "--port"), "Temporal Web UI": (args.ui_port, "--ui-port"),
         "account API": (args.api_port, "--api-port")},
        modules_root(),
        lambda finding: print(f"{marks[finding.status]}  {finding.item}: {finding.detail}", flush=True),
    )
    print("All is well." if code == 0 else "Fix the FAIL lines above (each says how), then run doctor again.")
    return code


def cmd_class(args: argparse.Namespace) -> int:
    """The instructor's view: run the classroom's worker, and show the table (a page, or --once in the terminal)."""
    from workshop import classroom_view

    name = settings.check_name("--name", args.name or settings.current().classroom)
    if not name:
        raise WorkshopError("Name the class: `python -m workshop class --name <class>` (learners export "
                            "WORKSHOP_CLASSROOM=<class> to report to it).")
    return classroom_view.run(name, args.once, args.host, args.port)


def cmd_faults(args: argparse.Namespace) -> int:
    """Show or change the account API's fault mode."""
    import httpx

    changes: dict[str, object] = {}
    if args.clear:
        changes = {"error_rate": 0, "lost_response_rate": 0, "delay_ms": 0, "down": False}
    for name in ("error_rate", "lost_response_rate", "delay_ms"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.down is not None:
        changes["down"] = args.down
    url = settings.current().account_api_url
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            response = http.put("/admin/faults", json=changes) if changes else http.get("/admin/faults")
    except httpx.HTTPError:
        raise WorkshopError(f"The account API is not reachable at {url}. Start it with `python -m workshop up`.") from None
    if response.status_code != 200:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise WorkshopError(f"The account API refused: {message}")
    faults = response.json()
    print("  ".join(f"{name}={faults[name]}" for name in ("error_rate", "lost_response_rate", "delay_ms", "down")))
    return 0


# --------------------------------------------------------------------------- up and notebook


def _shown_path(path: Path) -> str:
    """A path as the learner would type it: relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_up(args: argparse.Namespace) -> int:
    servers.refuse_taken_port(args.port, "Temporal gRPC", "--port")
    servers.refuse_taken_port(args.ui_port, "Temporal Web UI", "--ui-port")
    servers.refuse_taken_port(args.api_port, "account API", "--api-port")
    state = settings.state_dir()
    stopping = threading.Event()
    with stop_signals(lambda signum: stopping.set()):
        started: list[servers.Service] = []
        try:
            temporal = servers.start_dev_server(args.port, args.ui_port, db_file=state / "temporal.db",
                                                log_path=state / "temporal.log", namespaces=(servers.CHECKS_NAMESPACE,),
                                                host=args.host)
            started.append(temporal)
            api = servers.start_account_api(args.api_port, db_file=state / "accounts.db",
                                            log_path=state / "account_api.log", host=args.host)
            started.append(api)
            # A bank of their own for `workshop check`, which resets it at will.
            checks_bank = servers.start_account_api(db_file=state / "checks-bank.db", log_path=state / "checks-bank.log")
            started.append(checks_bank)
        except servers.ServiceError as err:
            for service in reversed(started):
                service.stop()
            database = state / ("temporal.db" if not started else "accounts.db" if len(started) == 1 else "checks-bank.db")
            if database.exists():
                raise servers.ServiceError(
                    f"{err}\nIf {_shown_path(database)} is damaged, move it away and run `up` again: a new, empty one "
                    f"is made (what the old one held is lost).") from None
            raise
        up_file = servers.write_up_file(state, temporal, checks_bank, [args.port, args.ui_port, args.api_port])
        try:
            print(f"Temporal server   {temporal.url}   (workflows are kept in {_shown_path(state / 'temporal.db')})")
            print(f"Temporal Web UI   {temporal.ui_url}")
            print(f"Account API       {api.url}")
            print(f"Bank dashboard    {api.url}/")
            if args.host != settings.LOCALHOST:
                room = servers.room_address(args.host)
                print(f"\nOpen to the network on {args.host}, not only this machine. Learners in the room export:\n"
                      f"  export TEMPORAL_ADDRESS={room}:{args.port}\n"
                      f"  export ACCOUNT_API_URL=http://{room}:{args.api_port}   # only to share this bank\n"
                      "The bank's admin endpoints (faults, reset) answer other machines only with WORKSHOP_ADMIN_TOKEN.")
            elif args.port != settings.DEFAULT_TEMPORAL_PORT or args.api_port != settings.DEFAULT_API_PORT:
                print(f"\nIn other terminals: export TEMPORAL_ADDRESS={temporal.url} ACCOUNT_API_URL={api.url}")
            print("\nReady. Leave this running; Ctrl-C stops both.", flush=True)
            while not stopping.wait(0.5):
                dead = next((service for service in started if not service.alive()), None)
                if dead is not None:
                    print(f"{dead.name} stopped unexpectedly; see its log in {_shown_path(state)}.", file=sys.stderr)
                    return 1
            return 0
        finally:
            up_file.unlink(missing_ok=True)
            for service in reversed(started):
                service.stop()
            print("\nStopped the Temporal server and the account API.", flush=True)


def cmd_notebook(args: argparse.Namespace) -> int:
    if args.refresh:
        from workshop import notebooks

        print(f"Executed and saved {notebooks.refresh(catalog.get(args.refresh))}")
        return 0
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if not jupyter:
        raise WorkshopError("JupyterLab is not installed: pip install -r requirements.txt")
    if servers.port_in_use(args.port):
        raise WorkshopError(f"Port {args.port} (JupyterLab) is already in use; choose another with --port.")
    command = [jupyter, "lab", f"--port={args.port}", "--notebook-dir", str(NOTEBOOKS)]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args.jupyter_args:
        command.append("--allow-root")  # a container or a dev container runs as root; JupyterLab refuses without it
    # JupyterLab asks "Shutdown this Jupyter server (y/[n])?" on Ctrl-C; SIGTERM stops it without a question.
    return run_child([*command, *args.jupyter_args], settings.child_env(), interrupt=signal.SIGTERM)


# --------------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m workshop", description="The Temporal Python SDK workshop.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, **kwargs: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, **kwargs)  # type: ignore[arg-type]
        sub.set_defaults(func=func)
        return sub

    def module_arg(sub: argparse.ArgumentParser, optional: bool = False) -> None:
        if optional:
            sub.add_argument("module", nargs="?", help="module number, e.g. 01 (default: the module you are on)")
        else:
            sub.add_argument("module", help="module number, e.g. 01")

    def solution_arg(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--solution", action="store_true", help="use solutions/ instead of exercises/")

    up = command("up", cmd_up, "start the Temporal dev server (with Web UI) and the account API")
    up.add_argument("--port", type=int, default=settings.DEFAULT_TEMPORAL_PORT, help="Temporal gRPC port")
    up.add_argument("--ui-port", type=int, default=settings.DEFAULT_UI_PORT, help="Temporal Web UI port")
    up.add_argument("--api-port", type=int, default=settings.DEFAULT_API_PORT, help="account API port")
    up.add_argument("--host", default=settings.LOCALHOST,
                    help="address to listen on (default %(default)s: this machine only; 0.0.0.0 opens it to the room)")

    command("list", cmd_list, "the modules and your progress")

    doctor = command("doctor", cmd_doctor, "check this setup and say what to do about anything wrong")
    doctor.add_argument("--port", type=int, default=settings.DEFAULT_TEMPORAL_PORT, help="the port `up` would use")
    doctor.add_argument("--ui-port", type=int, default=settings.DEFAULT_UI_PORT, help="the Web UI port `up` would use")
    doctor.add_argument("--api-port", type=int, default=settings.DEFAULT_API_PORT, help="the bank port `up` would use")

    check = command("check", cmd_check, "check your exercise, Part by Part")
    module_arg(check, optional=True)
    solution_arg(check)
    check.add_argument("--watch", action="store_true", help="check again whenever you save a file of the module")
    check.add_argument("-v", "--verbose", action="store_true", help="show pytest's full output")

    module_arg(command("hint", cmd_hint, "the next hint for the Part you are on"), optional=True)

    worker = command("worker", cmd_worker, "run the module's worker")
    module_arg(worker)
    solution_arg(worker)
    worker.add_argument("--watch", action="store_true", help="restart the worker whenever you save a file")
    worker.add_argument("--debug", action="store_true", help="log everything, the SDK's internals included")

    run = command("run", cmd_run, "run the module's runner (starts its workflow); other options go to the runner",
                  add_help=False)
    module_arg(run)
    solution_arg(run)

    reset = command("reset", cmd_reset, "restore the pristine exercise")
    module_arg(reset)
    reset.add_argument("--yes", action="store_true", help="overwrite your changes without asking")

    build_cmd = command("build", cmd_build, "regenerate exercises/ (and the README's module table) from solutions/")
    build_cmd.add_argument("module", nargs="?", help="only this module's exercise (default: every ready module)")
    build_cmd.add_argument("--check", action="store_true", help="only report differences (exit 1 if any)")

    new = command("new", cmd_new, "scaffold a new module (for maintainers)")
    new.add_argument("number", help="two digits, e.g. 11")
    new.add_argument("--topic", help="folder suffix, e.g. timers (default: from modules.toml)")
    new.add_argument("--title", help="the module's title (default: from modules.toml)")
    new.add_argument("--goal", help="one sentence: what the learner will learn")

    room = command("class", cmd_class, "the instructor's view of the room: who is on which Part (needs the classroom server)")
    room.add_argument("--name", help="the class (default: WORKSHOP_CLASSROOM)")
    room.add_argument("--once", action="store_true", help="print the table once and stop")
    room.add_argument("--host", default=settings.LOCALHOST, help="address of the page (default %(default)s)")
    room.add_argument("--port", type=int, default=8099, help="port of the page (default %(default)s)")

    faults = command("faults", cmd_faults, "show or change the bank's fault mode")
    faults.add_argument("--error-rate", type=float, dest="error_rate", help="share of requests refused with 503")
    faults.add_argument("--lost-response-rate", type=float, dest="lost_response_rate",
                        help="share of requests applied whose answer is lost (504)")
    faults.add_argument("--delay-ms", type=int, dest="delay_ms", help="delay before every answer")
    faults.add_argument("--down", action="store_true", default=None, help="refuse every request")
    faults.add_argument("--up", action="store_false", dest="down", help="answer requests again")
    faults.add_argument("--clear", action="store_true", help="no faults at all")

    notebook = command("notebook", cmd_notebook, "start JupyterLab on notebooks/ (other options go to JupyterLab)")
    notebook.add_argument("--port", type=int, default=settings.DEFAULT_JUPYTER_PORT)
    notebook.add_argument("--refresh", metavar="NN", help="re-execute module NN's notebook and save its outputs")
    return top


PASSES_EXTRA_ARGUMENTS = {"run": "runner_args", "notebook": "jupyter_args"}


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, extra = top.parse_known_args(argv)
    if extra and args.command not in PASSES_EXTRA_ARGUMENTS:
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    for name in PASSES_EXTRA_ARGUMENTS.values():
        setattr(args, name, extra)
    try:
        code: int = args.func(args)
        return code
    except (WorkshopError, catalog.UnknownModule, catalog.MetadataError, servers.ServiceError, build.MarkerError,
            settings.SettingsError, scaffold.ScaffoldError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C where no command handles it (a prompt, a build)
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m workshop list | head`
        sys.stderr.close()
        return 0
