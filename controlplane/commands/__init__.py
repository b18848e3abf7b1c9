"""Subcommands of the ``glassmesh`` CLI, each registering itself with ``add_parser``."""
