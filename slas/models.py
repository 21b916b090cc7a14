# Calendars, SLA policies and clocks arrive with the SLA engine (issue 3).
