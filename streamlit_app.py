"""The shared frame: language, demo notice, outage banner, navigation."""

import streamlit as st

from ui import frame

st.set_page_config(page_title="DropMap 끊김지도", page_icon="📶", layout="wide")

pages = frame.pages()
frame.sidebar()
frame.banner()
pages.run()
