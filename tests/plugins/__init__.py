"""Tiny real plugins the tests register (as Datasette's tests/plugins/ do)."""
