"""Helpers shared by test modules of several services (``tests/`` is on sys.path via its conftest)."""
