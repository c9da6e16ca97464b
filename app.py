"""clviz: see catastrophic forgetting in class-incremental learning, live.

    streamlit run app.py

The entry: navigation over pages/ and the shared sidebar (dataset, data folder, device, seed,
cache). Each page is thin: widgets -> one clviz call -> chart builders -> display.
"""
import streamlit as st

from clviz import ui

st.set_page_config(page_title="clviz: catastrophic forgetting, live", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("app_pages/sparsity.py", title="Sparsity", icon=":material/grain:", default=True),
    st.Page("app_pages/probe.py", title="Linear Probe", icon=":material/straighten:"),
    st.Page("app_pages/losses.py", title="Loss Variants", icon=":material/functions:"),
    st.Page("app_pages/savings.py", title="Optimizer Savings", icon=":material/savings:"),
    st.Page("app_pages/cifar.py", title="CIFAR", icon=":material/image:"),
    st.Page("app_pages/boundaries.py", title="Decision Boundaries", icon=":material/scatter_plot:"),
]

page = st.navigation(PAGES)
ui.warm_up()
ui.shared_sidebar()
page.run()
