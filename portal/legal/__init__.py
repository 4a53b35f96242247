"""The legal track (issue 19): referral by an agent, approval by another person (a
supervisor), the final notice (a letter and an email or SMS, through the contact gate)
and its deadline, then the market's milestones with their dates, documents and costs.

- ``hooks``: what payments, plans and the daily work do to a track (no commit; called
  inside their callers' transactions);
- ``service``: the staff's actions, each committing once, audited;
- ``queries``: what the case page and the supervisors' list read.

The rules are ``negotiation.legal`` and the policy's ``[legal]`` table.
"""
