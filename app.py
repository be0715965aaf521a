"""The one process that owns the database: Streamlit UI + HTTP API + outage detector.

Started by ``make run`` as ``streamlit run app.py``; Streamlit finds ``app``
below and serves the pages of streamlit_app.py beside the API routes.
"""

import streamlit as st

from api import lifespan, routes
from core.settings import one_blas_thread

one_blas_thread()

app = st.App("streamlit_app.py", routes=routes(), lifespan=lifespan)
