"""Places, aggregation, privacy thresholds, exports and the map's numbers (H3 cells are core.cells)."""
