"""Outage detection: baselines, detection, incidents, feeds (see docs/OUTAGES.md).

- ``series``: first reports per carrier, district and minute (one SQL query a stretch)
- ``baseline``: the usual level from the same hour of the week in recent weeks
- ``detect``: window tests against the usual band, change points
- ``incidents``: suspected -> ongoing -> recovering -> resolved, onset, end, areas
- ``scan``: runs the detector over a stretch and keeps the incidents table in step
- ``service``: the background threads in the site; ``cli``: ``python -m outages``
- ``public``, ``feeds``, ``webhooks``, ``details``, ``compensation``: what is published and shown
- every SQL statement of the package is in ``store.outages_sql`` (all SQL lives in ``store``)
"""
