"""Load tests (Locust) and the benchmark drivers behind `make loadtest` and `make bench`."""
