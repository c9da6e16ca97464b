"""clviz: see catastrophic forgetting in class-incremental learning, live.

    streamlit run app.py

The entry: navigation over app_pages/ (one page per experiment of the registry, app_pages/<name>.py)
and the shared sidebar (dataset, data folder, device, seed, cache). Each page is thin:
widgets -> one clviz call -> chart builders -> display. Training runs in worker processes.
"""
import streamlit as st

from clviz import experiments, ui

st.set_page_config(page_title="clviz: catastrophic forgetting, live", page_icon="🧠", layout="wide")

# Home first (at /): what the pages show and what "the notes" are, said once for every page
PAGES = [st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
         *(st.Page(f"app_pages/{e.name}.py", title=e.title, icon=e.icon) for e in experiments.REGISTRY.values())]
PAGES.append(st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"))

page = st.navigation(PAGES)
ui.queue()  # the job queue and its forkserver, started with the server
ui.shared_sidebar()
page.run()
