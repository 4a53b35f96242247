"""What every blueprint shares and no capability may use: form fields and GET forms
(``forms``), the page number of a paged list (``pagination``), htmx fragments and
whole-page exits (``fragments``), the consoles' and the borrower's "today" (``clock``),
the time limits of sessions (``sessions``), and input no page sends (``unreadable``)."""
