"""DropMap on several replicas behind a load balancer, on one shared store: `make cluster`, `python -m cluster`.

The orchestration of processes the site already is (PostgreSQL, `streamlit run app.py`, nginx); it imports
only ``core`` (the settings and the site secret) and starts everything else as child processes.
docs/SCALING.md describes the architecture.
"""
