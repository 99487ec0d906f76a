"""Watching the controller: logs, metrics, the HTTP server and the status page.

logging.py  structlog set-up (JSON in containers) and the per-reconcile log context
mask.py     secret masking for diffs and log events
metrics.py  Metrics: the Prometheus metrics on a registry of their own
http.py     the aiohttp server: /metrics, /healthz, /readyz, /api/v1/status, /, webhook
apiauth.py  who may promote / abort: the bearer-token rule and the token `run` generates
page.py     the server-rendered status page
"""
