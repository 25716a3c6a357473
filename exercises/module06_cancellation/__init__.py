"""Module 06: cancellation."""
