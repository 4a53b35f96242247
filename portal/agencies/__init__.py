"""Partner agencies (joint collection, 聯合): the lender's agencies and their offer
authority (``agencies``), the placement of a segment of cases with one for a period and
its recall, by hand or by the daily work at the period's end (``placement``), what an
agency's staff may reach (``access``), and the commission it earns on what they collect
(``commission``, ``statements``). Payments stay with the lender."""
