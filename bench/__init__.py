"""Benchmarks that print figures (``make bench``, ``make bench-profile``).

``bench.serve`` runs the pricing service and ``mlflow models serve`` of the same model
side by side under a real HTTP load generator (wrk) on loopback; ``bench.profile``
times and profiles pricing in-process; both build their requests with ``bench.world``
and find (or train) the model with ``bench.model``. Training and scoring at scale are
in ``training.bench`` (``make bench-train``). Nothing here asserts: the figures go to
``$SITERISK_HOME/bench/`` and ``docs/performance.md`` says what they were.
"""
