"""Reads. Each function is named <entity>_<what>, takes keyword-only arguments and writes nothing."""
