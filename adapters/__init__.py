"""Everything that talks to the outside: PostgreSQL, Stripe, SMTP, HTTP, Temporal, settings."""
