"""Preloaded by a test into a fork server: starts a thread there, so that the server forks
its workers while it runs (what ``workers_preload`` must never let happen)."""

import threading

threading.Thread(target=threading.Event().wait, daemon=True, name="preloaded").start()
