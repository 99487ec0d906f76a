"""Reconcile: normalize and diff desired against live state, plan and roll out changes."""
