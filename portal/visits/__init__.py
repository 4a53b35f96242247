"""Home visits (上門拜訪, issue 19): proposed by an agent when the policy allows it,
approved by another person (a supervisor), told to the borrower in writing first through
the contact gate, scheduled inside the contact rules of the borrower's zone, made by two
identified field staff, and recorded from a phone. Only the borrower is ever spoken to
about the debt: nothing here records telling anyone else (docs/visits.md)."""
