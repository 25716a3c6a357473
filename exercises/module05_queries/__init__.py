"""Module 05: queries."""
