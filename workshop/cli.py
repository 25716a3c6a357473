"""`python -m workshop`: everything a learner and an instructor run during the course."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from workshop import build, catalog, servers
from workshop.paths import CHECKS, EXERCISES, NOTEBOOKS, ROOT, SOLUTIONS, module_env, state_dir


class WorkshopError(Exception):
    """A problem the learner can fix; printed without a stack trace."""


# --------------------------------------------------------------------------- progress


def _progress_file() -> Path:
    return state_dir() / "progress.json"


def load_progress() -> dict:
    try:
        return json.loads(_progress_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save_progress(progress: dict) -> None:
    _progress_file().write_text(json.dumps(progress, indent=2, sort_keys=True))


def status_of(module: catalog.Module, progress: dict) -> str:
    record = progress.get(module.number, {})
    if record.get("passed") and set(record["passed"]) == {p.letter for p in module.parts}:
        return "done"
    if record or build.differences(module):
        return "in progress"
    return "not started"


# --------------------------------------------------------------------------- running module files


def modules_root(args: argparse.Namespace) -> Path:
    """exercises/ unless --solution, --modules-dir or WORKSHOP_MODULES_DIR (the course's tests) says otherwise."""
    chosen = getattr(args, "modules_dir", None) or os.environ.get("WORKSHOP_MODULES_DIR")
    if chosen:
        root = Path(chosen).resolve()
        if not root.is_dir():
            raise WorkshopError(f"The folder of modules {chosen} does not exist.")
        return root
    return SOLUTIONS if getattr(args, "solution", False) else EXERCISES


def module_command(root: Path, module: catalog.Module, file: str, extra: list[str] | None = None) -> list[str]:
    name = file.removesuffix(".py")
    if not (root / module.folder / f"{name}.py").exists():
        raise WorkshopError(f"{root.name}/{module.folder}/{name}.py does not exist.")
    return [sys.executable, "-m", f"{root.name}.{module.folder}.{name}", *(extra or [])]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cmd_worker(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    root = modules_root(args)
    command = module_command(root, module, "worker")
    env = module_env(root)
    if not args.watch:
        return subprocess.call(command, env=env, cwd=root.parent)

    import watchfiles

    folder = root / module.folder
    print(f"Watching {folder.relative_to(root.parent)}: the worker restarts whenever you save a file there.")
    process = subprocess.Popen(command, env=env, cwd=root.parent)
    try:
        for changes in watchfiles.watch(folder, watch_filter=watchfiles.PythonFilter(), debounce=400):
            names = ", ".join(sorted({Path(path).name for _, path in changes}))
            print(f"\n{names} changed: restarting the worker.", flush=True)
            _stop(process)
            process = subprocess.Popen(command, env=env, cwd=root.parent)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(process)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    root = modules_root(args)
    extra = (["--embedded"] if args.embedded else []) + args.runner_args
    try:
        return subprocess.call(module_command(root, module, module.runner or "run_workflow", extra),
                               env=module_env(root), cwd=root.parent)
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------- check and hint


def run_checks(module: catalog.Module, root: Path, verbose: bool = False) -> list[dict]:
    suite = CHECKS / f"test_module{module.number}.py"
    if not suite.exists():
        raise WorkshopError(f"Module {module.number} has no check suite yet ({suite.relative_to(ROOT)}).")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", str(suite), "--target", str(root), "--check-report",
                   str(report), "-q", "--no-header", "-p", "no:warnings"]
        if not verbose:
            command.append("--tb=no")
        completed = subprocess.run(command, cwd=ROOT, env=module_env(root), text=True,
                                   capture_output=not verbose)
        if not report.exists():
            output = (completed.stdout or "") + (completed.stderr or "")
            raise WorkshopError(f"The checks of module {module.number} could not run:\n{output[-3000:]}")
        return json.loads(report.read_text())


def part_verdicts(module: catalog.Module, results: list[dict]) -> dict[str, list[str]]:
    """Part letter -> failure messages (empty when every check of the Part passed)."""
    verdicts: dict[str, list[str]] = {part.letter: [] for part in module.parts}
    seen = set()
    for result in results:
        letter = result["part"]
        if letter not in verdicts:
            continue
        seen.add(letter)
        if result["outcome"] != "passed":
            verdicts[letter].append(result["message"] or f"{result['test']} {result['outcome']}")
    for letter in verdicts:
        if letter not in seen:
            verdicts[letter].append("no check ran for this Part")
    return verdicts


def cmd_check(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    root = modules_root(args)
    print(f"Checking module {module.number}, {module.title} ({root.name}/{module.folder}) ...", flush=True)
    started = time.monotonic()
    verdicts = part_verdicts(module, run_checks(module, root, args.verbose))
    for part in module.parts:
        failures = verdicts[part.letter]
        print(f"  Part {part.letter}  {'passed ' if not failures else 'not yet'}  {part.title}")
        # The first line of each distinct failure; `--verbose` shows pytest's whole report.
        for line in dict.fromkeys(message.strip().splitlines()[0] for message in failures if message.strip()):
            print(f"            {line}")
    failing = [part for part in module.parts if verdicts[part.letter]]
    print(f"({time.monotonic() - started:.1f} s)")
    if root == EXERCISES:
        progress = load_progress()
        progress[module.number] = {
            **progress.get(module.number, {}),
            "passed": [p.letter for p in module.parts if not verdicts[p.letter]],
            "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        save_progress(progress)
    if not failing:
        print(f"Module {module.number} is done. Well done!")
        return 0
    first = failing[0]
    if first.hints:
        print(f"\nHint for Part {first.letter}: {first.hints[0]}")
        print(f"More hints: python -m workshop hint {module.number}")
    return 1


def cmd_hint(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    progress = load_progress()
    record = progress.setdefault(module.number, {})
    passed = set(record.get("passed", []))
    part = next((p for p in module.parts if p.letter not in passed), None)
    if part is None:
        print(f"Every Part of module {module.number} passes its checks: no hint needed.")
        return 0
    shown = record.setdefault("hints_shown", {})
    index = shown.get(part.letter, 0)
    if index >= len(part.hints):
        print(f"That was the last hint for Part {part.letter}. The solved code is in "
              f"solutions/{module.folder}/ (look for '# >>> Part {part.letter}').")
        return 0
    print(f"Part {part.letter}, {part.title}\nHint {index + 1} of {len(part.hints)}: {part.hints[index]}")
    shown[part.letter] = index + 1
    save_progress(progress)
    return 0


# --------------------------------------------------------------------------- list, reset, build


def cmd_list(args: argparse.Namespace) -> int:
    progress = load_progress()
    print(f"{'':2}{'module':<8}{'title':<36}{'time':>7}  status")
    for module in catalog.modules():
        status = status_of(module, progress) if module.ready else "coming soon"
        print(f"{'':2}{module.number:<8}{module.title:<36}{module.timebox_minutes:>4} min  {status}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    module = catalog.get(args.module)
    root = modules_root(args)
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
    record = load_progress()
    record.pop(module.number, None)
    save_progress(record)
    print(f"{root.name}/{module.folder} is pristine again.")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    changed = build.build_all(check=args.check)
    if args.check:
        if changed:
            print("exercises/ differs from what `python -m workshop build` makes from solutions/:\n  "
                  + "\n  ".join(changed) + "\nRun `python -m workshop build` and commit the result.")
            return 1
        print("exercises/ matches solutions/.")
        return 0
    print(f"Rebuilt exercises/ from solutions/ ({len(changed)} files changed).")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    """Show or change the account API's fault mode."""
    import httpx

    from workshop.connection import account_api_url

    changes = {}
    if args.clear:
        changes = {"error_rate": 0, "lost_response_rate": 0, "delay_ms": 0, "down": False}
    for name in ("error_rate", "lost_response_rate", "delay_ms"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.down is not None:
        changes["down"] = args.down
    url = account_api_url()
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            response = http.put("/admin/faults", json=changes) if changes else http.get("/admin/faults")
    except httpx.HTTPError:
        raise WorkshopError(f"The account API is not reachable at {url}. Start it with `python -m workshop up`.")
    if response.status_code != 200:
        raise WorkshopError(response.json().get("message", response.text))
    faults = response.json()
    print("  ".join(f"{name}={faults[name]}" for name in ("error_rate", "lost_response_rate", "delay_ms", "down")))
    return 0


# --------------------------------------------------------------------------- up and notebook


def cmd_up(args: argparse.Namespace) -> int:
    servers.refuse_taken_port(args.port, "Temporal gRPC", "--port")
    servers.refuse_taken_port(args.ui_port, "Temporal Web UI", "--ui-port")
    servers.refuse_taken_port(args.api_port, "account API", "--api-port")
    state = state_dir()
    temporal = servers.start_dev_server(args.port, args.ui_port, db_file=state / "temporal.db",
                                        log_path=state / "temporal.log")
    try:
        api = servers.start_account_api(args.api_port, db_file=state / "accounts.db",
                                        log_path=state / "account_api.log")
    except servers.ServiceError:
        temporal.stop()
        raise
    print(f"Temporal server   {temporal.url}   (workflows are kept in {state / 'temporal.db'})")
    print(f"Temporal Web UI   {temporal.ui_url}")
    print(f"Account API       {api.url}")
    print(f"Bank dashboard    {api.url}/")
    if args.port != servers.DEFAULT_TEMPORAL_PORT or args.api_port != servers.DEFAULT_API_PORT:
        print(f"\nIn other terminals: export TEMPORAL_ADDRESS={temporal.url} ACCOUNT_API_URL={api.url}")
    print("\nReady. Leave this running; Ctrl-C stops both.", flush=True)

    def on_terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_terminate)
    try:
        while temporal.alive() and api.alive():
            time.sleep(0.5)
        dead = temporal if not temporal.alive() else api
        print(f"{dead.name} stopped unexpectedly; see the log in {state}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        api.stop()
        temporal.stop()
        print("Stopped the Temporal server and the account API.", flush=True)


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
    env = module_env(SOLUTIONS)
    try:
        return subprocess.call([jupyter, "lab", f"--port={args.port}", "--notebook-dir", str(NOTEBOOKS)], env=env)
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m workshop", description="The Temporal Python SDK workshop.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = commands.add_parser("up", help="start the Temporal dev server (with Web UI) and the account API")
    up.add_argument("--port", type=int, default=servers.DEFAULT_TEMPORAL_PORT, help="Temporal gRPC port")
    up.add_argument("--ui-port", type=int, default=servers.DEFAULT_UI_PORT, help="Temporal Web UI port")
    up.add_argument("--api-port", type=int, default=servers.DEFAULT_API_PORT, help="account API port")
    up.set_defaults(func=cmd_up)

    commands.add_parser("list", help="the modules and your progress").set_defaults(func=cmd_list)

    def with_module(name: str, help: str, solution: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("module", help="module number, e.g. 01")
        if solution:
            sub.add_argument("--solution", action="store_true", help="use solutions/ instead of exercises/")
            sub.add_argument("--modules-dir", help=argparse.SUPPRESS)
        return sub

    check = with_module("check", "check your exercise, Part by Part")
    check.add_argument("-v", "--verbose", action="store_true", help="show pytest's full output")
    check.set_defaults(func=cmd_check)
    with_module("hint", "the next hint for the Part you are on", solution=False).set_defaults(func=cmd_hint)
    worker = with_module("worker", "run the module's worker")
    worker.add_argument("--watch", action="store_true", help="restart the worker whenever a file changes")
    worker.set_defaults(func=cmd_worker)
    run = with_module("run", "run the module's runner (starts the workflow); other options go to the runner")
    run.add_argument("--embedded", action="store_true", help="run a worker inside the runner")
    run.set_defaults(func=cmd_run)
    reset = with_module("reset", "restore the pristine exercise", solution=False)
    reset.add_argument("--yes", action="store_true", help="overwrite your changes without asking")
    reset.set_defaults(func=cmd_reset)

    build_cmd = commands.add_parser("build", help="regenerate exercises/ from solutions/")
    build_cmd.add_argument("--check", action="store_true", help="only report differences (exit 1 if any)")
    build_cmd.set_defaults(func=cmd_build)

    faults = commands.add_parser("faults", help="show or change the bank's fault mode")
    faults.add_argument("--error-rate", type=float, dest="error_rate", help="share of requests refused with 503")
    faults.add_argument("--lost-response-rate", type=float, dest="lost_response_rate",
                        help="share of requests applied whose answer is lost (504)")
    faults.add_argument("--delay-ms", type=int, dest="delay_ms", help="delay before every answer")
    faults.add_argument("--down", action="store_true", default=None, help="refuse every request")
    faults.add_argument("--up", action="store_false", dest="down", help="answer requests again")
    faults.add_argument("--clear", action="store_true", help="no faults at all")
    faults.set_defaults(func=cmd_faults)

    notebook = commands.add_parser("notebook", help="start JupyterLab on notebooks/")
    notebook.add_argument("--port", type=int, default=8888)
    notebook.add_argument("--refresh", metavar="NN", help="re-execute module NN's notebook and save its outputs")
    notebook.set_defaults(func=cmd_notebook)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, extra = top.parse_known_args(argv)
    if extra and args.command != "run":
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    args.runner_args = extra
    try:
        return args.func(args)
    except (WorkshopError, catalog.UnknownModule, servers.ServiceError, build.MarkerError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `python -m workshop list | head`
        sys.stderr.close()
        return 0
