"""Interop tests that need their own virtual environments (RLlib, TorchRL): `make test-interop`."""
