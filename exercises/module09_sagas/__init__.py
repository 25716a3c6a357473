"""Module 09: sagas."""
