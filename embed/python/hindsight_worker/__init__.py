"""The Python half of hindsight-worker: everything that touches the app.

Compiled into the worker binary (embed/embed_sources.py); C++ reads and writes the
frames and calls dispatch.handle() for each one.
"""
