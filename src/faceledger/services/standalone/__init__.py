"""Use cases on images with no deployment behind them."""
