"""The bottom layer every package uses: errors, settings, the city's configuration, the shared vocabulary
(carriers, failure kinds, technologies) and H3 cells."""
