"""The course's test suite: see workshop/testing.py for the servers, targets and check helpers."""

pytest_plugins = ["workshop.testing"]
