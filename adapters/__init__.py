"""Everything that talks to the outside world: PostgreSQL, Stripe, SMTP, HTTP, Temporal, settings."""
