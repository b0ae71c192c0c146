"""Reconciliation's settings and the tolerances file that ships with it."""
