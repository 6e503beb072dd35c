"""Benchmarks that print figures (``make bench``, ``make bench-profile``, ``make bench-train``,
``make bench-feed``).

``bench.serve`` runs the pricing service and ``mlflow models serve`` of the same model
side by side under a real HTTP load generator (wrk) on loopback; ``bench.profile``
times and profiles pricing in-process; both build their requests with ``bench.world``
and find (or train) the model with ``bench.model``. ``bench.train`` times training and
scoring at scale (``make bench-train``), ``bench.feed`` a city's data through the feed
and regulator profiles (``make bench-feed``). Nothing here asserts: the figures go to
``$SITERISK_HOME/bench/`` and ``docs/performance.md`` says what they were.
"""
