"""The borrower's pages: from a reminder link to a paid, arranged plan."""
