"""ecs-gitops: a GitOps controller for Amazon ECS.

Package map (outer layers import inner ones, never the reverse):
    cli            the `ecs-gitops` command: options in, exit codes out
    loader         files -> validated resources with file:line:col diagnostics
    sources        where files come from: directory (Git and S3 later)
    observability  logging (metrics and HTTP later)
    api            pydantic models of the desired state, CRD generation; no I/O
    errors         the one exception tree (a leaf: anyone may import it)
"""

__version__ = "0.1.0"
