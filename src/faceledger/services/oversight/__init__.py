"""The ledger as auditors read it, transparency checkpoints, anomalies, reports."""
