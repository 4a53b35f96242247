"""Collections performance for the people who run the book: the month-end history and
its roll rates (``snapshots``, ``portfolio``), with the figures of plans, promises,
contact and the portal's funnel beside them."""
