"""``python -m negotiation``: see ``negotiation.cli``."""

from negotiation.cli import main

raise SystemExit(main())
