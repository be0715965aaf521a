"""Shared pieces every package uses: errors, settings, the city's configuration."""
