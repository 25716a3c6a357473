"""Module 02: retries."""
