"""Canonical forms of task definitions, services and clusters: what a diff compares.

Desired and live models (live parsed from describe-* output) are dumped in the ECS API's
shape and put through the same functions: what ECS fills in by itself is written out or
dropped as ECS reports it, lists ECS treats as sets are sorted, nulls and empty lists or
mappings go, server-only fields are stripped. What remains differs only on a real change;
identity.py digests it into the spec hash and externalId, so a change here that moves an
id is a new identity scheme (tests/golden/ids.json fails until it is one).
compare_* return (live, desired) and also drop what ECS picks when the spec leaves it
open (platform version, launch type, security groups, cluster settings): not drift.
A load balancer with alternateTargetGroupArn is a pair that task sets take turns on (see
rollout/traffic.py): sorted, listener rules dropped; a set on either group matches it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from controller.api.base import Model
from controller.api.cluster import EcsClusterSpec
from controller.api.common import TAG_PREFIX
from controller.api.ecs_shapes import LoadBalancer, NetworkConfiguration, TaskDefinitionInput
from controller.api.service import EcsServiceSpec
from controller.api.units import cpu_units, memory_mib
from controller.aws.models import LiveCluster, LiveService, LiveTaskSet

SERVER_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "requiresAttributes",
        "compatibilities",
    }
)
"""describe-task-definition fields that are not register-task-definition input."""

TASK_SET_FIELDS = (
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
)
"""Fields that live on the task set, not the service, under the EXTERNAL controller."""

UNOWNED_TAG_PREFIXES = (TAG_PREFIX, "aws:")
"""Tags the controller writes itself (ours) or AWS writes (aws:): never user content."""

# ECS's documented defaults, written out so a spec that omits them equals the live value.
_HEALTH_CHECK_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3}
_RESTART_ATTEMPT_PERIOD = 300


# -- generic helpers -------------------------------------------------------------------------


def prune(value: Any) -> Any:
    """value without nulls, empty lists and empty mappings, at every depth."""
    if isinstance(value, Mapping):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if not _empty(v)]
    return value


def _clean(doc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = prune(doc)
    return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, list | dict) and not value)


def _rank(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | int | float):
        return (0, value)
    return (1, str(value)) if value is not None else (2, "")


def _sorted_by(items: Any, *fields: str) -> Any:
    """A list of mappings sorted by fields, ties broken by the whole item; others as given."""
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        return items
    return sorted(
        items,
        key=lambda i: (*(_rank(i.get(f)) for f in fields), canonical_json(i)),
    )


def canonical_json(doc: Any) -> str:
    """The one serialization that is hashed: sorted keys, no whitespace, UTF-8 text."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dump(models: Iterable[Model]) -> list[dict[str, Any]]:
    return [m.to_api() for m in models]


# -- task definitions ------------------------------------------------------------------------


def strip_server_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """describe-task-definition's `taskDefinition` without what only the server knows."""
    out = {k: v for k, v in raw.items() if k not in SERVER_ONLY_FIELDS}
    containers = out.get("containerDefinitions")
    if isinstance(containers, list):
        out["containerDefinitions"] = [_strip_container(c) for c in containers]
    return out


def _strip_container(container: Any) -> Any:
    if not isinstance(container, Mapping) or not isinstance(container.get("portMappings"), list):
        return container
    mappings = [
        {k: v for k, v in p.items() if k != "hostPortRange"} if isinstance(p, Mapping) else p
        for p in container["portMappings"]
    ]
    return {**container, "portMappings": mappings}


def canonical_task_definition(td: TaskDefinitionInput) -> dict[str, Any]:
    """The task definition's content as ECS stores it; tags are not content."""
    return normalize_task_definition(td.to_api())


def normalize_task_definition(raw: Mapping[str, Any]) -> dict[str, Any]:
    """canonical_task_definition for an API-shaped dict (input or describe output)."""
    td = copy.deepcopy(strip_server_fields(raw))
    td.pop("tags", None)
    td["cpu"] = _size(td.get("cpu"), cpu_units)
    td["memory"] = _size(td.get("memory"), memory_mib)
    mode = _network_mode(td)
    td["networkMode"] = mode
    td["requiresCompatibilities"] = sorted(td.get("requiresCompatibilities") or [])
    td["placementConstraints"] = _sorted_by(td.get("placementConstraints"), "type", "expression")
    if td.get("enableFaultInjection") is False:
        del td["enableFaultInjection"]
    proxy = td.get("proxyConfiguration")
    if isinstance(proxy, dict):
        proxy["properties"] = _sorted_by(proxy.get("properties"), "name", "value")
    containers = td.get("containerDefinitions")
    if isinstance(containers, list):
        td["containerDefinitions"] = _sorted_by([_container(c, mode) for c in containers], "name")
    volumes = td.get("volumes")
    if isinstance(volumes, list):
        td["volumes"] = _sorted_by([_volume(v) for v in volumes], "name")
    return _clean(td)


def _size(value: Any, parse: Callable[[str | int], int]) -> Any:
    """ECS reports task cpu and memory as a numeric string: 512, "0.5 vCPU" -> "512"."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return value
    try:
        return str(parse(value))
    except ValueError:
        return value


def _network_mode(td: Mapping[str, Any]) -> str | None:
    """The network mode ECS uses when none is given: awsvpc on Fargate, else bridge on Linux."""
    mode = td.get("networkMode")
    if isinstance(mode, str) and mode:
        return mode
    if "FARGATE" in (td.get("requiresCompatibilities") or ()):
        return "awsvpc"
    platform = td.get("runtimePlatform") or {}
    if str(platform.get("operatingSystemFamily") or "").startswith("WINDOWS"):
        return None
    return "bridge"


def _container(raw: Any, mode: str | None) -> Any:
    if not isinstance(raw, Mapping):
        return raw
    c = dict(raw)
    if c.get("essential") is None:
        c["essential"] = True
    if c.get("cpu") == 0:
        del c["cpu"]
    if c.get("versionConsistency") == "enabled":
        del c["versionConsistency"]
    if isinstance(c.get("portMappings"), list):
        mappings = [_port_mapping(p, mode) for p in c["portMappings"]]
        c["portMappings"] = _sorted_by(
            mappings, "containerPort", "containerPortRange", "protocol", "hostPort", "name"
        )
    c["environment"] = _sorted_by(c.get("environment"), "name", "value")
    c["secrets"] = _sorted_by(c.get("secrets"), "name", "valueFrom")
    c["mountPoints"] = _sorted_by(
        _drop_false(c.get("mountPoints"), "readOnly"), "containerPath", "sourceVolume"
    )
    c["volumesFrom"] = _drop_false(c.get("volumesFrom"), "readOnly")
    c["ulimits"] = _sorted_by(c.get("ulimits"), "name")
    c["systemControls"] = _sorted_by(c.get("systemControls"), "namespace")
    health = c.get("healthCheck")
    if isinstance(health, Mapping):
        c["healthCheck"] = {**_HEALTH_CHECK_DEFAULTS, **prune(health)}
    restart = c.get("restartPolicy")
    if isinstance(restart, Mapping) and restart.get("enabled"):
        c["restartPolicy"] = {"restartAttemptPeriod": _RESTART_ATTEMPT_PERIOD, **prune(restart)}
    logs = c.get("logConfiguration")
    if isinstance(logs, Mapping):
        c["logConfiguration"] = {
            **logs,
            "secretOptions": _sorted_by(logs.get("secretOptions"), "name"),
        }
    return c


def _port_mapping(raw: Any, mode: str | None) -> Any:
    """protocol tcp by default; awsvpc and host map hostPort = containerPort; 0 is dynamic."""
    if not isinstance(raw, Mapping):
        return raw
    p = dict(raw)
    if not p.get("protocol"):
        p["protocol"] = "tcp"
    if p.get("hostPort") == 0:
        del p["hostPort"]
    fixed = mode in ("awsvpc", "host") and not p.get("containerPortRange")
    if fixed and p.get("hostPort") is None and p.get("containerPort") is not None:
        p["hostPort"] = p["containerPort"]
    return p


def _drop_false(items: Any, field: str) -> Any:
    if not isinstance(items, list):
        return items
    return [
        {k: v for k, v in i.items() if not (k == field and v is False)}
        if isinstance(i, Mapping)
        else i
        for i in items
    ]


def _volume(raw: Any) -> Any:
    """A bind mount may come back with host {} (pruned); EFS root and Docker scope defaults."""
    if not isinstance(raw, Mapping):
        return raw
    v = dict(raw)
    if v.get("configuredAtLaunch") is False:
        del v["configuredAtLaunch"]
    efs = v.get("efsVolumeConfiguration")
    if isinstance(efs, Mapping):
        v["efsVolumeConfiguration"] = {"rootDirectory": "/", **prune(efs)}
    docker = v.get("dockerVolumeConfiguration")
    if isinstance(docker, Mapping):
        d = {"scope": "task", **prune(docker)}
        if d.get("autoprovision") is False:
            del d["autoprovision"]
        v["dockerVolumeConfiguration"] = d
    return v


# -- services and task sets ------------------------------------------------------------------


def canonical_service_fields(
    source: EcsServiceSpec | LiveService,
    *,
    include_desired_count: bool = True,
    include_task_set_fields: bool = True,
) -> dict[str, Any]:
    """The service fields the controller manages, of the desired spec or a described service.

    include_desired_count=False when autoscaling owns the count; include_task_set_fields=False
    for EXTERNAL services, whose launch type, network and load balancers live on task sets.
    """
    return _service(_service_raw(source), include_desired_count, include_task_set_fields)


canonical_live_service_fields = canonical_service_fields


def canonical_task_set_fields(source: EcsServiceSpec | LiveTaskSet) -> dict[str, Any]:
    """The task-set-level fields of the desired spec (EXTERNAL services) or a described set."""
    return _task_set(_task_set_raw(source))


canonical_live_task_set_fields = canonical_task_set_fields


def compare_service(
    spec: EcsServiceSpec, live: LiveService
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(live, desired) service fields, ready for a diff.

    desiredCount is left out when autoscaling owns it, the task-set fields when the
    service is EXTERNAL (compare_task_set covers them), and what ECS chose is dropped.
    """
    owns_count = spec.auto_scaling is None
    on_service = live.deployment_controller != "EXTERNAL"
    desired = canonical_service_fields(
        spec, include_desired_count=owns_count, include_task_set_fields=on_service
    )
    have = canonical_live_service_fields(
        live, include_desired_count=owns_count, include_task_set_fields=on_service
    )
    return _drop_ecs_choices(have, desired), desired


def compare_task_set(
    spec: EcsServiceSpec, task_set: LiveTaskSet
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(live, desired) task-set-level fields, ready for a diff."""
    desired = canonical_task_set_fields(spec)
    paired = [_pair_of(lb, spec.load_balancers) for lb in task_set.load_balancers]
    live = _task_set({**_task_set_raw(task_set), "loadBalancers": _dump(paired)})
    return _drop_ecs_choices(live, desired), desired


def _service_raw(source: EcsServiceSpec | LiveService) -> dict[str, Any]:
    return {
        **_task_set_raw(source),
        "desiredCount": source.desired_count,
        "placementConstraints": _dump(source.placement_constraints),
        "placementStrategy": _dump(source.placement_strategy),
        "healthCheckGracePeriodSeconds": source.health_check_grace_period_seconds,
        "enableExecuteCommand": source.enable_execute_command,
        "enableECSManagedTags": source.enable_ecs_managed_tags,
        "propagateTags": source.propagate_tags,
        "tags": source.tags,
    }


def _task_set_raw(source: EcsServiceSpec | LiveService | LiveTaskSet) -> dict[str, Any]:
    return {
        "launchType": source.launch_type,
        "capacityProviderStrategy": _dump(source.capacity_provider_strategy),
        "platformVersion": source.platform_version,
        "networkConfiguration": _network(source.network_configuration),
        "loadBalancers": _dump(source.load_balancers),
        "serviceRegistries": _dump(source.service_registries),
    }


def _network(network: NetworkConfiguration | None) -> dict[str, Any] | None:
    if network is None or network.awsvpc_configuration is None:
        return None
    vpc = network.awsvpc_configuration.to_api()
    return {
        "awsvpcConfiguration": {
            **vpc,
            "subnets": sorted(vpc.get("subnets", [])),
            "securityGroups": sorted(vpc.get("securityGroups", [])),
            "assignPublicIp": vpc.get("assignPublicIp") or "DISABLED",
        }
    }


def _task_set(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    strategy = _strategy(out.get("capacityProviderStrategy") or [])
    out["capacityProviderStrategy"] = strategy
    if strategy:
        out["launchType"] = None  # ECS reports one or the other
    if out.get("platformVersion") == "LATEST":
        out["platformVersion"] = None
    out["loadBalancers"] = _sorted_by(
        [_paired(lb) for lb in out.get("loadBalancers") or []],
        "containerName",
        "containerPort",
        "targetGroupArn",
        "loadBalancerName",
    )
    out["serviceRegistries"] = _sorted_by(
        out.get("serviceRegistries"), "registryArn", "containerName", "containerPort", "port"
    )
    return _clean(out)


def _paired(lb: Any) -> Any:
    """A load balancer's pair of target groups, sorted; its listener rules and role dropped."""
    if not isinstance(lb, Mapping) or "advancedConfiguration" not in lb:
        return lb
    out = {k: v for k, v in lb.items() if k != "advancedConfiguration"}
    alternate = (lb["advancedConfiguration"] or {}).get("alternateTargetGroupArn")
    if alternate and lb.get("targetGroupArn") not in (None, alternate):
        first, second = sorted((lb["targetGroupArn"], alternate))
        out.update(targetGroupArn=first, advancedConfiguration={"alternateTargetGroupArn": second})
    return out


def _pair_of(lb: LoadBalancer, wanted: list[LoadBalancer]) -> LoadBalancer:
    """The desired entry whose pair of target groups holds lb's group, else lb."""
    for want in wanted:
        alternate = adv.alternate_target_group_arn if (adv := want.advanced_configuration) else None
        same = (lb.container_name, lb.container_port) == (want.container_name, want.container_port)
        if alternate and same and lb.target_group_arn in (want.target_group_arn, alternate):
            return want
    return lb


def _strategy(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Capacity provider strategy items with ECS's base 0 and weight 0, by provider."""
    filled = [{"base": 0, "weight": 0, **prune(i)} for i in items]
    result: list[dict[str, Any]] = _sorted_by(filled, "capacityProvider")
    return result


def _service(raw: dict[str, Any], with_count: bool, with_task_set: bool) -> dict[str, Any]:
    placement = {key: raw.pop(key, None) for key in TASK_SET_FIELDS}
    out = _task_set(placement) if with_task_set else {}
    out.update(raw)
    if not with_count:
        out.pop("desiredCount", None)
    out["placementConstraints"] = _sorted_by(out.get("placementConstraints"), "type", "expression")
    out["healthCheckGracePeriodSeconds"] = out.get("healthCheckGracePeriodSeconds") or 0
    out["propagateTags"] = out.get("propagateTags") or "NONE"
    out["tags"] = user_tags(out.get("tags") or {})
    return _clean(out)


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags without the controller's own (ecs-gitops.dev/) and AWS's (aws:), sorted."""
    return {k: tags[k] for k in sorted(tags) if not k.startswith(UNOWNED_TAG_PREFIXES)}


def _drop_ecs_choices(live: dict[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """live without what ECS picked because the spec left it open."""
    out = copy.deepcopy(live)
    if "launchType" not in desired and "capacityProviderStrategy" not in desired:
        out.pop("launchType", None)  # ECS took the cluster's default strategy, or EC2
        out.pop("capacityProviderStrategy", None)
    if "platformVersion" not in desired:
        out.pop("platformVersion", None)  # LATEST, or the version LATEST resolved to
    want_vpc = desired.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    have_vpc = out.get("networkConfiguration", {}).get("awsvpcConfiguration")
    if isinstance(have_vpc, dict) and "securityGroups" not in want_vpc:
        have_vpc.pop("securityGroups", None)  # the VPC's default security group
    return _clean(out)


# -- clusters --------------------------------------------------------------------------------


def canonical_cluster(source: EcsClusterSpec | LiveCluster) -> dict[str, Any]:
    """The cluster fields the controller manages, of the desired spec or a described cluster."""
    return _cluster(
        settings=_dump(source.settings),
        providers=source.capacity_providers,
        strategy=_dump(source.default_capacity_provider_strategy),
        configuration=source.configuration.to_api() if source.configuration else None,
        tags=source.tags,
    )


canonical_live_cluster = canonical_cluster


def compare_cluster(
    spec: EcsClusterSpec, live: LiveCluster
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(live, desired): settings the spec does not name and an unset configuration are
    ECS's (or the account's) choice, not drift."""
    desired, have = canonical_cluster(spec), canonical_live_cluster(live)
    named = {s.get("name") for s in desired.get("settings", [])}
    have["settings"] = [s for s in have.get("settings", []) if s.get("name") in named]
    if "configuration" not in desired:
        have.pop("configuration", None)
    return _clean(have), desired


def _cluster(
    *,
    settings: list[dict[str, Any]],
    providers: Sequence[str],
    strategy: list[dict[str, Any]],
    configuration: dict[str, Any] | None,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    return _clean(
        {
            "settings": _sorted_by(settings, "name"),
            "capacityProviders": sorted(providers),
            "defaultCapacityProviderStrategy": _strategy(strategy),
            "configuration": configuration,
            "tags": user_tags(tags),
        }
    )


# -- services ECS deploys itself (deploymentController ECS) --------------------------------

DEPLOYMENT_FIELDS = (
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)
"""What DescribeServices shows on the PRIMARY deployment of an ECS-controller service,
not on the service: a change to any of them is a new deployment."""

_ECS_ONLY = (
    "deploymentConfiguration",
    "availabilityZoneRebalancing",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)

ECS_OFF: dict[str, Any] = {
    "serviceConnectConfiguration": {"enabled": False},
    "volumeConfigurations": [],
    "vpcLatticeConfigurations": [],
}
"""What UpdateService takes to turn off a deployment-level field the file no longer sets
(ECS keeps a field the request leaves out). A live value equal to it is off."""


def compare_ecs_service(
    spec: EcsServiceSpec, live: LiveService
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(live, desired) fields of a service ECS deploys, ready for a diff; the task
    definition is compared by its content elsewhere (the ARN says nothing of it).

    Service-level fields as compare_service reads them; deployment-level fields
    (DEPLOYMENT_FIELDS) from the PRIMARY deployment. ECS's own settings (deployment
    configuration, Service Connect, ...) are compared on what the spec gives: ECS fills
    in the rest (a circuit breaker off, a default log level), which is not drift. One the
    spec leaves out is not managed, except those ECS_OFF turns off: Service Connect, volumes
    or VPC Lattice left on the service after the file dropped them differ.
    """
    have, desired = compare_service(spec, live)
    primary = live.primary_deployment
    if primary is not None:
        for key in DEPLOYMENT_FIELDS:
            have.pop(key, None)
        deployed = _task_set(
            {
                "launchType": primary.launch_type,
                "capacityProviderStrategy": _dump(primary.capacity_provider_strategy),
                "platformVersion": primary.platform_version,
                "networkConfiguration": _network(primary.network_configuration),
            }
        )
        have.update(_drop_ecs_choices(deployed, desired))
    wanted = spec.to_api()
    shown = {
        "deploymentConfiguration": live.deployment_configuration,
        "availabilityZoneRebalancing": live.availability_zone_rebalancing,
        "serviceConnectConfiguration": primary.service_connect_configuration if primary else None,
        "volumeConfigurations": _dump(primary.volume_configurations) if primary else None,
        "vpcLatticeConfigurations": _dump(primary.vpc_lattice_configurations) if primary else None,
    }
    for key in _ECS_ONLY:
        want = prune(wanted.get(key))
        value = shown[key]
        got = prune(value.to_api() if isinstance(value, Model) else value)
        if _empty(want):
            if key in ECS_OFF and not _empty(got) and got != ECS_OFF[key]:
                have[key] = got  # still on: the file turned it off
            continue
        desired[key] = want
        have[key] = want if _covers(got, want) else got
    return _clean(have), _clean(desired)


def _covers(live: Any, want: Any) -> bool:
    """live holds everything want says (ECS may add defaults beside it)."""
    if isinstance(want, Mapping):
        return isinstance(live, Mapping) and all(_covers(live.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(live, list)
            and len(live) == len(want)
            and all(_covers(a, b) for a, b in zip(live, want, strict=True))
        )
    return bool(live == want)
