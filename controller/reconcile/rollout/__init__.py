"""Rollout strategies over task sets, one level-triggered step per reconcile."""
