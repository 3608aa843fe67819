"""Developer scripts run by make targets (e.g. ``make screenshots``); not part of cms."""
