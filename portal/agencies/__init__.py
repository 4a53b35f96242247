"""Partner agencies (joint collection, 聯合): cases placed with an external agency, and
the commission it earns on what they collect (``commission``, ``statements``)."""
