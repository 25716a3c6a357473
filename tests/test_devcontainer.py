"""The ready-made environment for a learner whose laptop cannot install the workshop."""

import json
import re

from workshop import settings
from workshop.paths import ROOT


def test_the_devcontainer_installs_as_the_readme_says_and_forwards_the_learner_s_ports():
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = re.search(r"```bash\n(.+?)\n```", readme, flags=re.DOTALL)
    assert quick_start, "the README's quick start has a bash block"
    install = quick_start.group(1).split("&&")[0].strip()
    assert config["postCreateCommand"] == install == "pip install -r requirements.txt"
    wanted = {settings.DEFAULT_UI_PORT, settings.DEFAULT_API_PORT, settings.DEFAULT_JUPYTER_PORT}
    assert wanted <= set(config["forwardPorts"])
    assert all(str(port) in config["portsAttributes"] for port in wanted)
    assert ".devcontainer" in readme, "the README tells learners about it"
