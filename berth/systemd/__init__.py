"""systemd integration: `generate systemd` units, the Quadlet generator, unit-file parsing."""
