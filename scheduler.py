"""The daemon (issue 3)."""
