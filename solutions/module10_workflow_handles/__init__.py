"""Module 10: workflow handles."""
