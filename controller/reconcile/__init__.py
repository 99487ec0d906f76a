"""Reconcile: read live state, compare it with the desired state, move it one safe step.

Every reconcile is level-triggered: it reads what ECS shows, acts once, and says when to
look again (result.py); all progress lives in ECS (tags, task sets, deployments), so a
retry or a restart resumes without repeating work. Dry runs are refused where the calls
leave (aws.client.read_only); the modules still say what they would do.

    sync         reconcile_once (any kind) and the one-shot `sync` run to completion
    context      Context: clients, instance, clock, mode; shared caches
    result       Result: the status, requeue-after, rollout events, notices
    cluster      one EcsCluster: create, settings, capacity providers, tags
    service      one EcsService: ownership, fields, tags, then its deployer's rollout
    deployers/   who rolls a service out: task sets we drive (EXTERNAL) or ECS's own (ECS)
    rollout/     our task-set strategies (rolling, blueGreen, canary), gates, rollback
    taskset      the task set a spec asks for; find-or-register of its task definition
    identity     versioned content ids: spec hashes and task-set externalIds
    normalize    canonical documents (what diff compares); plan and diff render them
    hooks        preSync / postSync EcsTasks around a rollout
    depends      dependsOn at run time
    secrets      the versions of referenced secrets; rollout on rotation
    autoscaling  Application Auto Scaling target and policies
    adopt        taking a running service over; switching its deployment controller
    ownership    the tag-ownership rule: which live resources are ours to change
    snapshot     what runs, as the documents `ecs-gitops import` writes
    prune        deleting a service that left the source, one step at a time
    retention    old task definition revisions deregistered
    preflight/   what would make a new task set fail, asked of AWS before any task starts
    actions      manual gates: promote, abort
    conditions   Flux-style conditions and the cost estimate on a status
    cost         the monthly Fargate cost of a spec (pure arithmetic)
"""
