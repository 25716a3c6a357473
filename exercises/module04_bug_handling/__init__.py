"""Module 04: bug handling with Jerry."""
