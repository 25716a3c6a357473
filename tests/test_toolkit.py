"""`python -m workshop`: the builder, the errors a learner meets, reset, check and up."""

import os
import pty
import re
import signal
import subprocess
import sys
import textwrap

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from workshop import build, catalog, servers
from workshop.paths import CHECKS, ROOT, SOLUTIONS
from workshop.targets import Target


def workshop(*args: str, env: dict | None = None, stdin=subprocess.DEVNULL, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "workshop", *args], cwd=ROOT, env={**os.environ, **(env or {})},
        stdin=stdin, capture_output=True, text=True, timeout=timeout,
    )


# --------------------------------------------------------------------------- the builder

SOLUTION = textwrap.dedent('''\
    def transfer(amount):
        # >>> Part A: Check the amount.
        if amount <= 0:
            raise ValueError(amount)
        # <<< Part A
        # >>> Part B: Pick a fee.
        fee = amount // 100
        # --- exercise version:
        # fee = 0
        #
        # <<< Part B
        # >>> Fixed bug: the fee was divided by zero.
        fee = fee + 1
        # --- exercise version:
        # fee = fee // 0
        # <<< Fixed bug
        return amount + fee
''')


def test_part_blocks_become_todos_and_bug_blocks_ship_the_bug():
    exercise = build.derive_source(SOLUTION)
    assert exercise == textwrap.dedent('''\
        def transfer(amount):
            # TODO Part A: Check the amount.
            raise NotImplementedError('Part A is not done yet: Check the amount. See README.md, Part A.')
            # TODO Part B: Pick a fee.
            fee = 0

            fee = fee // 0
            return amount + fee
    ''')
    namespace: dict = {}
    exec(compile(exercise, "exercise", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="Part A"):
        namespace["transfer"](100)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("# >>> Part A: x\npass\n", "not closed"),
        ("# >>> Part A: x\npass\n# <<< Part B\n", "closes a different block"),
        ("pass\n# <<< Part A\n", "without a matching"),
        ("# >>> Fixed bug: x\npass\n# <<< Fixed bug\n", "needs an exercise version"),
        ("# >>> Part A: x\n# --- exercise version:\nnot_a_comment()\n# <<< Part A\n", "must be a comment"),
        ("# >>> Part A: x\n# >>> Part B: y\n# <<< Part B\n# <<< Part A\n", "not closed"),
    ],
)
def test_broken_markers_are_reported_with_their_line(source, problem):
    with pytest.raises(build.MarkerError, match=problem):
        build.derive_source(source, "solution.py")


def test_committed_exercises_are_the_build_of_the_solutions():
    completed = workshop("build", "--check")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_build_check_names_a_drifted_exercise(tmp_path):
    module = catalog.get("01")
    build.write_module(module, tmp_path)
    assert build.differences(module, tmp_path) == []
    workflow = tmp_path / module.folder / "workflow.py"
    workflow.write_text(workflow.read_text() + "# edited by hand\n")
    (tmp_path / module.folder / "notes.txt").write_text("mine")
    assert build.differences(module, tmp_path) == [
        f"{module.folder}/notes.txt (not made by the build)",
        f"{module.folder}/workflow.py",
    ]


@pytest.mark.parametrize("number", [m.number for m in catalog.ready_modules()])
def test_metadata_markers_checks_and_readme_agree(number):
    """modules.toml is the source: the markers, the check suite and the README say what it says."""
    module = catalog.get(number)
    titles = {part.letter: part.title.rstrip(".") for part in module.parts}
    marked: dict[str, set[str]] = {}
    for path in (SOLUTIONS / module.folder).rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = build.BEGIN.match(line)
            if match and match["letter"]:
                marked.setdefault(match["letter"], set()).add(match["title"].rstrip("."))
    assert set(marked) <= set(titles), f"markers for Parts the metadata does not list: {set(marked) - set(titles)}"
    for letter, seen in marked.items():
        assert seen == {titles[letter]}, f"Part {letter}: markers say {seen}, modules.toml says {titles[letter]!r}"
    if set(titles) - set(marked):  # a Part without a marker is a bug to fix, shipped by a `Fixed bug` block
        sources = "".join(p.read_text() for p in (SOLUTIONS / module.folder).rglob("*.py"))
        assert "# >>> Fixed bug:" in sources, f"Parts {set(titles) - set(marked)} have neither a marker nor a bug"
    suite = (CHECKS / f"test_module{number}.py").read_text()
    checked = set(re.findall(r'@pytest\.mark\.part\("([A-Z])"\)', suite))
    assert checked == set(titles), f"the check suite covers Parts {sorted(checked)}, the metadata lists {sorted(titles)}"

    readme = (SOLUTIONS / module.folder / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# Module {number}: {module.title}\n"), "the README's first line names the module"
    assert f"**Timebox:** {module.timebox_minutes} minutes." in readme, "the README gives the metadata's timebox"
    headings = re.findall(r"^## Part ([A-Z]): (.+?)\.?$", readme, flags=re.MULTILINE)
    assert [letter for letter, _ in headings] == list(titles), f"README Part headings: {headings}"
    for letter, heading in headings:
        assert heading == titles[letter], f"README Part {letter}: {heading!r}, modules.toml: {titles[letter]!r}"


def test_metadata_refuses_unknown_keys_and_out_of_order_parts():
    good = catalog.METADATA.read_text(encoding="utf-8")
    with pytest.raises(catalog.MetadataError, match=r"unknown key.*timebox"):
        catalog.parse(good.replace("timebox_minutes = 30", "timebox = 30", 1))
    with pytest.raises(catalog.MetadataError, match="format = 1"):
        catalog.parse(good.replace("format = 1", "format = 2"))
    with pytest.raises(catalog.MetadataError, match="expected A"):
        catalog.parse(good.replace('letter = "A"', 'letter = "B"', 1))
    assert catalog.parse(good) == catalog.modules()


def test_exercises_do_not_import_what_only_the_answer_uses():
    solution = textwrap.dedent('''\
        from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
        from workshop.money import format_cents

        from .shared import Payroll


        def start(payroll: Payroll) -> str:
            # >>> Part B: Refuse a second payroll.
            policy = WorkflowIDReusePolicy.REJECT_DUPLICATE
            # <<< Part B
            return format_cents(RetryPolicy().maximum_attempts)
    ''')
    exercise = build.prune_unused_imports(build.derive_source(solution))
    assert "WorkflowIDReusePolicy" not in exercise, "the exercise must not import the answer"
    assert "from temporalio.common import RetryPolicy\n" in exercise
    assert "from .shared import Payroll" in exercise, "the module's own names stay importable"


# --------------------------------------------------------------------------- errors a learner meets


def test_unknown_module_lists_the_valid_ones():
    completed = workshop("check", "42")
    assert completed.returncode == 2
    valid = ", ".join(m.number for m in catalog.ready_modules())
    assert f"There is no module '42'. Valid module numbers: {valid}." in completed.stderr
    assert "Traceback" not in completed.stderr


def test_runner_without_a_server_says_how_to_get_one():
    port = servers.free_port()
    completed = workshop("run", "02", "--solution", env={"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"})
    assert completed.returncode == 2
    assert f"No Temporal server is reachable at 127.0.0.1:{port}" in completed.stderr
    assert "python -m workshop up" in completed.stderr and "TEMPORAL_ADDRESS" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_up_refuses_a_port_in_use_and_starts_nothing(tmp_path):
    with socket_on_free_port() as port:
        completed = workshop("up", "--api-port", str(port), env={"WORKSHOP_STATE_DIR": str(tmp_path)})
    assert completed.returncode == 2
    assert f"Port {port} (account API) is already in use" in completed.stderr
    assert "--api-port" in completed.stderr
    assert not (tmp_path / "temporal.db").exists(), "nothing may start when a port is taken"


class socket_on_free_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- reset


def test_reset_asks_before_overwriting_and_restores_on_yes(tmp_path):
    module = catalog.get("01")
    build.write_module(module, tmp_path)
    workflow = tmp_path / module.folder / "workflow.py"
    workflow.write_text("# my work in progress\n")
    env = {"WORKSHOP_MODULES_DIR": str(tmp_path), "WORKSHOP_STATE_DIR": str(tmp_path / "state")}

    refused = workshop("reset", "01", env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert workflow.read_text() == "# my work in progress\n"

    # At a terminal it asks; anything but "y" keeps the work.
    terminal, learner_side = pty.openpty()
    os.write(terminal, b"n\n")
    declined = workshop("reset", "01", env=env, stdin=learner_side)
    os.close(terminal), os.close(learner_side)
    assert declined.returncode == 1 and "Nothing was changed." in declined.stdout
    assert workflow.read_text() == "# my work in progress\n"

    done = workshop("reset", "01", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert build.differences(module, tmp_path) == []


# --------------------------------------------------------------------------- check


def test_check_reports_each_part_with_a_hint_on_a_pristine_exercise(tmp_path):
    module = catalog.get("02")
    build.write_module(module, tmp_path)
    completed = workshop("check", "02", env={"WORKSHOP_MODULES_DIR": str(tmp_path),
                                             "WORKSHOP_STATE_DIR": str(tmp_path / "state")})
    assert completed.returncode == 1, completed.stdout + completed.stderr
    for part in module.parts:
        assert f"Part {part.letter}  not yet  {part.title}" in completed.stdout
    assert f"Hint 1 of {len(module.parts[0].hints)} for Part A, {module.parts[0].title}:\n  {module.parts[0].hints[0]}" in completed.stdout
    assert "Traceback" not in completed.stdout


def test_check_passes_on_the_solution():
    completed = workshop("check", "01", "--solution")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Part A  passed" in completed.stdout and "Part B  passed" in completed.stdout


# --------------------------------------------------------------------------- up


def readme_up_block() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```text\n", 1)[1].split("```", 1)[0]
    return [re.sub(r":\d+", ":PORT", line) for line in block.splitlines()]


async def test_up_serves_both_lends_checks_a_namespace_and_keeps_workflows_across_a_restart(tmp_path):
    ports = [servers.free_port() for _ in range(3)]
    args = ["up", "--port", str(ports[0]), "--ui-port", str(ports[1]), "--api-port", str(ports[2])]
    env = {**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path / ".workshop")}

    def start() -> tuple[subprocess.Popen, list[str]]:
        # From the folder that holds the state folder, as a learner runs it from the repository.
        process = subprocess.Popen([sys.executable, "-m", "workshop", *args], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        shown: list[str] = []
        for line in process.stdout:
            if line.startswith("Ready."):
                return process, shown
            shown.append(line.rstrip("\n"))
        raise AssertionError(f"up did not start: {process.wait()}\n" + "\n".join(shown))

    def stop(process: subprocess.Popen) -> str:
        process.send_signal(signal.SIGINT)
        output = process.stdout.read()
        assert process.wait(timeout=30) == 0
        return output

    up, shown = start()
    try:
        assert [re.sub(r":\d+", ":PORT", line) for line in shown[:4]] == readme_up_block(), (
            "README's quick start shows what `up` prints:\n" + "\n".join(shown))
        assert httpx.get(f"http://127.0.0.1:{ports[2]}/health").status_code == 200
        assert httpx.get(f"http://localhost:{ports[1]}/").status_code == 200  # the Web UI
        client = await Client.connect(f"127.0.0.1:{ports[0]}")
        # No worker polls this queue: the workflow stays Running, in the server's database.
        handle = await client.start_workflow("PayrollWorkflow", id="kept-across-restart", task_queue="nobody")

        # A check borrows up's server, in a namespace of its own, and a bank of its own.
        checked = workshop("check", "01", "--solution", env={"WORKSHOP_STATE_DIR": env["WORKSHOP_STATE_DIR"]})
        assert checked.returncode == 0, checked.stdout + checked.stderr
        checks = await Client.connect(f"127.0.0.1:{ports[0]}", namespace=servers.CHECKS_NAMESPACE)
        assert (await checks.count_workflows()).count > 0, "the check ran on the server of `up`"
        assert (await client.count_workflows()).count == 1, "the learner's namespace has only the learner's workflow"
        assert httpx.get(f"http://127.0.0.1:{ports[2]}/ledger").json()["entries"] == [], "the learner's bank is untouched"
    finally:
        output = stop(up)
    assert "Stopped the Temporal server and the account API." in output
    assert not servers.port_in_use(ports[0]) and not servers.port_in_use(ports[2])
    assert not (tmp_path / ".workshop" / servers.UP_FILE).exists(), "a stopped up lends nothing"

    up, _ = start()
    try:
        client = await Client.connect(f"127.0.0.1:{ports[0]}")
        description = await client.get_workflow_handle(handle.id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
    finally:
        stop(up)


# --------------------------------------------------------------------------- pristine exercises start


@pytest.fixture(scope="module")
def pristine_root(tmp_path_factory):
    return build.write_package(tmp_path_factory.mktemp("start") / "pristine_start")


@pytest.mark.parametrize("number", [m.number for m in catalog.ready_modules()])
def test_a_pristine_exercise_imports_and_its_worker_starts(number, pristine_root, client, services):
    module = catalog.get(number)
    env = services.env(**Target("pristine", pristine_root).python_path())
    package = f"{pristine_root.name}.{module.folder}"
    files = sorted(p.stem for p in (pristine_root / module.folder).glob("*.py") if p.stem != "__init__")
    imported = subprocess.run([sys.executable, "-c", "; ".join(f"import {package}.{f}" for f in files)],
                              env=env, capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr

    worker = subprocess.Popen([sys.executable, "-m", f"{package}.worker"], env=env, cwd=pristine_root.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_line = worker.stdout.readline()
        assert first_line.startswith("Worker polling task queue"), first_line + worker.stdout.read()
    finally:
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=30) in (0, 130), "Ctrl-C stops the worker cleanly"


def test_up_opens_to_the_room_only_when_asked_and_says_what_to_export(tmp_path):
    ports = [servers.free_port() for _ in range(3)]
    env = {**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path / ".workshop")}
    up = subprocess.Popen([sys.executable, "-m", "workshop", "up", "--host", "0.0.0.0", "--port", str(ports[0]),
                           "--ui-port", str(ports[1]), "--api-port", str(ports[2])], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shown = []
    try:
        for line in up.stdout:
            shown.append(line)
            if line.startswith("Ready."):
                break
        text = "".join(shown)
        room = servers.room_address("0.0.0.0")
        assert f"export TEMPORAL_ADDRESS={room}:{ports[0]}" in text, text
        assert "WORKSHOP_ADMIN_TOKEN" in text
        if room != "127.0.0.1":  # this machine has an address on a network: the bank answers there too
            assert httpx.get(f"http://{room}:{ports[2]}/health", timeout=5).status_code == 200
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)


def test_a_file_that_does_not_load_is_named_in_one_line_at_worker_and_run(tmp_path, services):
    root = build.write_package(tmp_path / "exercises", (catalog.get("01"),))
    workflow = root / "module01_durable_execution" / "workflow.py"
    workflow.write_text(workflow.read_text().replace("from .shared import", "from .shared import NoSuchName,"))
    env = services.env(modules_dir=root, PYTHONPATH=str(tmp_path))
    for command in (["worker", "01"], ["run", "01", "--embedded"]):
        done = workshop(*command, env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "module01_durable_execution/workflow.py, line" in done.stderr and "NoSuchName" in done.stderr
        assert "Traceback" not in done.stderr, done.stderr


def test_up_starts_a_plain_local_server_whatever_classroom_settings_are_exported(tmp_path):
    profile = tmp_path / "temporal.toml"
    profile.write_text("[profile.default]\naddress = \"classroom.example:7233\"\napi_key = \"profile-secret\"\n"
                       "[profile.default.tls]\ndisabled = false\n")
    ports = [servers.free_port() for _ in range(3)]
    env = {**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path / ".workshop"), "TEMPORAL_API_KEY": "env-secret",
           "TEMPORAL_TLS": "true", "TEMPORAL_ADDRESS": "classroom.example:7233", "TEMPORAL_CONFIG_FILE": str(profile)}
    up = subprocess.Popen([sys.executable, "-m", "workshop", "up", "--port", str(ports[0]), "--ui-port", str(ports[1]),
                           "--api-port", str(ports[2])], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        for line in up.stdout:
            output += line
            if line.startswith("Ready.") or up.poll() is not None:
                break
        assert "Ready." in output, output
    finally:
        up.send_signal(signal.SIGINT)
        output += up.stdout.read()
        up.wait(timeout=60)
    assert "env-secret" not in output and "profile-secret" not in output


def test_a_damaged_database_gets_a_clear_message_and_nothing_keeps_running(tmp_path):
    state = tmp_path / ".workshop"
    state.mkdir()
    (state / "temporal.db").write_bytes(b"this is not a database " * 200)
    done = workshop("up", "--port", str(servers.free_port()), "--ui-port", str(servers.free_port()),
                    "--api-port", str(servers.free_port()), env={"WORKSHOP_STATE_DIR": str(state)})
    assert done.returncode == 2
    assert "temporal.db is damaged, move it away" in done.stderr and "Traceback" not in done.stderr
