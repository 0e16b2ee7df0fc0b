"""Composition root: settings, the CLI and the wiring of every layer into one process."""
