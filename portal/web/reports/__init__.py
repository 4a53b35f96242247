"""Reports for supervisors and admins at ``/reports``: how the book is doing. First the
portfolio's roll rates (``views``), read from ``portal.reporting``."""
