"""ecs-gitops: a GitOps controller for Amazon ECS.

Package map (outer layers import inner ones, never the reverse):
    cli            the `ecs-gitops` commands: options in, exit codes out
    app            the manager of `run`: source loop, work queue, workers, resync, HTTP
    reconcile      normalize and diff (pure), one reconcile per kind, rollout strategies
    loader         files -> validated resources with file:line:col diagnostics
    sources        where files come from: a directory, a Git checkout or remote, S3
    aws            aiobotocore clients, error mapping, typed ECS / autoscaling calls
    observability  logging, secret masking, metrics, the HTTP server and status page
    notify         deploy notifications: webhook, Slack, GitHub commit statuses
    runtime        work queue, backoff, clock, leader election; knows nothing of ECS
    api            pydantic models of the desired state and status, CRDs; no I/O
    local          the emulated AWS (optional extra): moto + a Fargate-like ECS emulator
    errors         the one exception tree (a leaf: anyone may import it)
    data           files shipped with the package (the Fargate price table)
"""

__version__ = "0.1.0"
