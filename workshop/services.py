"""The private servers of a test session, a `workshop check` run or a notebook refresh.

Each gets its own Temporal dev server and account API in a temporary folder, started on first use, so
nothing it does touches the learner's executions and balances or a classroom server. A `workshop check`
borrows instead the checks' namespace and bank of a `workshop up` that is running (see servers.py),
which saves it the seconds a dev server takes to start. Code that runs in this process reads the servers'
addresses from the environment (`export()`); a subprocess gets them explicitly through `env()`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from workshop import settings
from workshop.servers import Service, servers_of_up, start_account_api, start_dev_server


class Services:
    """One dev server and one account API, each started on first use and stopped by `stop()`."""

    def __init__(self, borrow_from_up: bool = False) -> None:
        self.temporal: Service | None = None
        self.api: Service | None = None
        if borrow_from_up:
            lent = servers_of_up(settings.state_dir())
            if lent is not None:
                self.temporal, self.api = lent
        self._dir = tempfile.TemporaryDirectory(prefix="workshop-services-")
        self.state = Path(self._dir.name)
        # An empty configuration file: a learner's temporal.toml profile (say, for Temporal Cloud)
        # must not add an API key or TLS to connections to these local servers.
        self.no_profiles = self.state / "temporal.toml"
        self.no_profiles.touch()

    def ensure_temporal(self) -> Service:
        if self.temporal is None:
            self.temporal = start_dev_server(headless=True, log_path=self.state / "temporal.log")
            self.export()
        return self.temporal

    def ensure_api(self) -> Service:
        if self.api is None:
            self.api = start_account_api(db_file=self.state / "accounts.db", log_path=self.state / "account_api.log")
            self.export()
        return self.api

    def ensure_started(self) -> Services:
        self.ensure_temporal()
        self.ensure_api()
        return self

    def settings(self) -> settings.Settings:
        """The workshop's settings for code that uses these servers: no learner, a state folder of its own."""
        api = self.api.url if self.api else settings.DEFAULT_ACCOUNT_API_URL
        return settings.Settings(state_dir=self.state / "state", account_api_url=api)

    def temporal_env(self) -> dict[str, str]:
        url = self.temporal.url if self.temporal else f"{settings.LOCALHOST}:1"
        namespace = self.temporal.namespace if self.temporal else "default"
        return {"TEMPORAL_ADDRESS": url, "TEMPORAL_NAMESPACE": namespace,
                "TEMPORAL_CONFIG_FILE": str(self.no_profiles)}

    def env(self, *, learner: str = "", modules_dir: Path | None = None, **extra: str) -> dict[str, str]:
        """The environment of a subprocess that uses these servers (a worker, a runner, a kernel), with the
        workshop's settings given here and ``extra`` variables on top."""
        chosen = dataclasses.replace(self.settings(), learner=settings.check_learner(learner), modules_dir=modules_dir)
        return settings.child_env(chosen, temporal=self.temporal_env(), **extra)

    def export(self) -> None:
        """Point this process's environment at these servers, for code that reads settings when it runs
        here (module code loaded by the checks) and for notebook kernels, which nbval starts with it."""
        for name in [n for n in os.environ if n.startswith("TEMPORAL_") or n in settings.VARIABLES]:
            del os.environ[name]
        os.environ.update(self.settings().env())
        os.environ.update(self.temporal_env())

    def stop(self) -> None:
        for service in (self.api, self.temporal):
            if service:
                # Throwaway servers in a temporary folder: nothing of theirs is kept, so there is nothing to
                # shut down gracefully (a dev server takes about a second for it). Lent servers are left alone.
                service.kill()
        self.api = self.temporal = None
        self._dir.cleanup()
