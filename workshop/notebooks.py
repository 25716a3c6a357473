"""Re-execute a module's notebook and store its outputs, the way nbval will compare them.

    python -m workshop notebook --refresh 01

Runs the notebook against private servers (as the test session does), so the committed outputs are
what a learner sees on a fresh start.
"""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from workshop import catalog
from workshop.paths import NOTEBOOKS
from workshop.services import Services


def refresh(module: catalog.Module) -> str:
    if not module.notebook:
        raise ValueError(f"Module {module.number} has no notebook.")
    path = NOTEBOOKS / module.notebook
    services = Services()
    services.ensure_started()  # exports the servers' addresses: the kernel starts with this environment
    try:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(
            notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
        nbformat.write(notebook, path)
    finally:
        services.stop()
    return str(path)
