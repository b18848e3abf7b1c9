"""glassmesh control plane: identity, registry, resources and config push; also the CLI."""
