"""The DuckDB warehouse: connect, migrate, the run lock, bulk loads, run records, exports."""
