"""The course's test suite: see workshop/plugin.py for the servers, targets and fixtures."""

pytest_plugins = ["workshop.plugin"]
