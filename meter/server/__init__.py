"""Layer 2: the sans-IO xDLMS application server (associations, services, protection)."""
