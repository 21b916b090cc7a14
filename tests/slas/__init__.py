"""Tests for the SLA engine: calendars and clock maths (pure, no database) first."""
