"""The workshop toolkit behind ``python -m workshop``."""
