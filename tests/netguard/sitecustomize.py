"""Python imports this at start-up when tests/netguard is on PYTHONPATH."""

import netguard  # noqa: F401
