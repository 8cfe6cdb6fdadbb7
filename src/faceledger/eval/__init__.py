"""Evaluation on real faces: datasets, metrics and calibration. Uses the engine, never the store or api."""
