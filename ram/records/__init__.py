"""What a run leaves: its own files (``logger.py``) and their Weights & Biases mirror (``dashboard.py``)."""
