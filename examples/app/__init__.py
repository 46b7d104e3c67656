"""A small example application whose message handlers the load suite can test (README)."""
