"""Writes. Each function is named <entity>_<action>, takes keyword-only arguments and runs in a transaction."""
