"""The one error the local control plane raises: its message is the single line a user sees."""

from __future__ import annotations


class LocalClusterError(Exception):
    """The control plane could not start, stop or answer; the message names the cause."""
