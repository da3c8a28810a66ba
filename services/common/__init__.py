"""What every service shares: configuration, the database unit of work, the event envelope,
the outbox and inbox, the caller context, errors and logging."""
