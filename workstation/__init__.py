"""The workstation side of the LAN API: a client library and the ``officesync ws`` CLI."""

from workstation.client import Stored, WorkstationClient, WorkstationError, etag_of, if_match

__all__ = ["Stored", "WorkstationClient", "WorkstationError", "etag_of", "if_match"]
