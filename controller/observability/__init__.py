"""Logs now; metrics and the HTTP server join with the controller."""
