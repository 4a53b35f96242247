"""Payments: a gateway interface chosen by configuration, and the one path by which a
confirmed payment changes a case (``events.handle``)."""
