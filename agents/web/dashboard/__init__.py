"""The holder dashboard and subscriber API (Arts. 7-12, 14): a web process that reads the ledger and
writes to the bus. `create_app` builds it; `qbus dashboard` runs it (agents/cli/dashboard.py)."""
