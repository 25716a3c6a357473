"""Module 07: asynchronous activity completion."""
