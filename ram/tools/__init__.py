"""Tools on finished runs and checkpoints: the rollout viewer (``view.py``, drawing in ``draw.py``, the page
in ``view_page.py``), the comparison table (``compare.py``) and MAC counts (``macs.py``)."""
