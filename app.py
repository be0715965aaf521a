"""The one process that owns the database: Streamlit UI + HTTP API + outage detector.

Started by ``make run`` as ``streamlit run app.py``; Streamlit finds ``app``
below and serves the pages of streamlit_app.py beside the API routes.
"""

import mimetypes

import streamlit as st

from api import lifespan, routes
from core.settings import one_blas_thread

one_blas_thread()
# Streamlit serves ./static with the type Python guesses from the name; without the system's
# /etc/mime.types Python does not know .atom (the detector's static feeds, outages.static_status).
mimetypes.add_type("application/atom+xml", ".atom")

app = st.App("streamlit_app.py", routes=routes(), lifespan=lifespan)
