"""Imported once by the job queue's forkserver (clviz/jobs.py), before it forks any worker.

multiprocessing makes each new process import the parent's `__main__` again. Under Streamlit,
`__main__` is the page script whose Train button submitted the job, so every worker ran that page
(in bare mode: its imports, its widgets, a log warning) before training. A worker only needs
clviz.jobs._work, so it keeps the forkserver's own `__main__`.
"""
from multiprocessing import spawn

spawn._fixup_main_from_path = lambda main_path: None
spawn._fixup_main_from_name = lambda mod_name: None
