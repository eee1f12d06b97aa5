"""Scenarios with known truth, in the data contract's shape."""
