"""The workshop's modules, one package each (see README.md)."""
