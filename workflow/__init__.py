"""Outpost's generic workflow engine: definitions, guards, deadlines and the case service.

Nothing here imports a specific machine, the database library, the mail library or the scheduler:
they are reached through the small interfaces in :mod:`workflow.ports`.
"""

__version__ = "0.1.0"
