"""Hexagons, geometry, aggregation and exports."""
