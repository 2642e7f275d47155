"""Benchmarks: speed, memory and statistical studies, run by ``make bench``."""
