"""Throughput benchmarks of the hub on PostgreSQL; run them with bench/run.py."""
