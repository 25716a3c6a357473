"""Module 03: signals."""
