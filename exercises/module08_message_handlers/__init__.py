"""Module 08: message handlers and compensation."""
