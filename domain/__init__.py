"""The pure business model: money, orders, inventory rules, events and errors. No I/O here."""
