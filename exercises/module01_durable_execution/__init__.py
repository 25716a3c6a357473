"""Module 01: durable execution."""
