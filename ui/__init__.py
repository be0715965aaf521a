"""Streamlit pages: widgets -> package functions -> render. No SQL here."""
