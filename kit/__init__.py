"""The one process kit: real ``redis-server``, ``live serve``, a Redis Cluster and nginx, started and
stopped by pid, for the tests (``tests/``) and the benchmarks (``bench/``) alike.

It stays in the repository (it is not part of the installed package): tests and benchmarks run
from the repository root, which puts it on the import path.
"""
