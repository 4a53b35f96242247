"""Partner agencies (joint collection, 聯合): the lender's agencies and their offer
authority (``agencies``), the placement of a segment of cases with one for a period and
its recall, by hand or by the daily work at the period's end (``placement``), and what an
agency's staff may reach (``access``). The commission earned on placed cases is another
module's; payments stay with the lender: nothing here touches the payment path."""
