"""Finance: the console's reports and pages, and reconciliation against Stripe."""
