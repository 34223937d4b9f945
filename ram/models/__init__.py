"""What learns: every model behind one interface (``base.py``), RAM and its rollout (``ram.py``,
``rollout.py``), the full-image networks it is compared with (``fullimage.py``), and the one table that
names them for the config (``registry.py``)."""
