"""``python -m bench``: speed, latency, concurrency and memory of the real server, beside pocketsphinx.

Every number comes from the code that ships: the server is started as a
subprocess (gunicorn, as in production), clients talk HTTP and WebSocket over
loopback, and the offline figures run ``models.registry`` in fresh processes.
One module per section (offline, streaming, concurrency, memory, pi); the
report module turns their results into ``bench/RESULTS.md`` and PNG charts.
"""
