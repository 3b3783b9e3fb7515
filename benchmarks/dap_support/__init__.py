"""Helpers of ``benchmarks/dap.py``: data generation, server processes, HTTP load."""

from __future__ import annotations
