"""CustomResourceDefinitions generated from the models, for editors and kubectl users.

Pydantic's JSON Schema becomes a Kubernetes structural schema: $refs are inlined,
Optional[X] becomes X, string-or-integer becomes x-kubernetes-int-or-string, a
path-or-mapping union and free-form JSON keep their fields open
(x-kubernetes-preserve-unknown-fields),
and JSON Schema 2020 keywords are turned into their OpenAPI v3.0 forms.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from controller.api.common import API_GROUP
from controller.api.notifications import NOTIFICATIONS_KIND, EcsGitopsNotifications
from controller.api.resources import KINDS, VERSIONS

CONFIG_KINDS: dict[str, type[BaseModel]] = {NOTIFICATIONS_KIND: EcsGitopsNotifications}
"""Kinds that configure the controller rather than describe AWS resources: no status."""

_DROP = {"title", "additionalProperties", "discriminator"}
SHORT_NAMES = {
    "EcsCluster": ["ecsc"],
    "EcsService": ["ecss", "ecssvc"],
    "EcsTask": ["ecst"],
    NOTIFICATIONS_KIND: ["ecsgn"],
}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **extra}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node.pop(key) if o.get("type") != "null"]
            if len(options) == 1:
                node = {**options[0], **node}
            else:
                types = {o.get("type") for o in options}
                if types == {"string", "integer"}:
                    node["x-kubernetes-int-or-string"] = True
                else:
                    node["type"] = "object"
                    node["x-kubernetes-preserve-unknown-fields"] = True
                    kinds = " or ".join(sorted(str(t) for t in types))
                    node.setdefault("description", f"One of: {kinds}.")
    if not node.keys() & {
        "type",
        "enum",
        "const",
        "properties",
        "items",
        "x-kubernetes-int-or-string",
    }:
        node["x-kubernetes-preserve-unknown-fields"] = True  # free-form JSON (JsonValue)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
        node["minimum"] = node["exclusiveMinimum"]
        node["exclusiveMinimum"] = True
    if node.get("default") is None or isinstance(node.get("default"), dict | list):
        node.pop("default", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _structural(value)
        else:
            out[key] = value
    if node.get("type") == "object" and "additionalProperties" in node and "properties" not in node:
        extra = node["additionalProperties"]
        if isinstance(extra, dict):
            out["additionalProperties"] = _structural(extra)
    return out


def schema_for(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of one kind."""
    model = KINDS[kind] if kind in KINDS else CONFIG_KINDS[kind]
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _structural(_inline(raw, raw.get("$defs", {})))
    props = schema["properties"]
    props["metadata"] = {"type": "object"}
    if kind in CONFIG_KINDS:
        return schema
    props["status"] = {
        "type": "object",
        "description": "Written by the controller: syncStatus, healthStatus, rollout, conditions.",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return schema


def crd_for(kind: str) -> dict[str, Any]:
    plural = kind.lower() if kind.endswith("s") else kind.lower() + "s"
    columns = [
        {"name": "Sync", "type": "string", "jsonPath": ".status.syncStatus"},
        {"name": "Health", "type": "string", "jsonPath": ".status.healthStatus"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    if kind in CONFIG_KINDS:
        columns = columns[-1:]
    elif kind != "EcsCluster":
        columns.insert(0, {"name": "Cluster", "type": "string", "jsonPath": ".spec.cluster"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": SHORT_NAMES.get(kind, []),
                "categories": ["ecs-gitops"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": version == VERSIONS[-1],
                    "schema": {"openAPIV3Schema": schema_for(kind)},
                    **({} if kind in CONFIG_KINDS else {"subresources": {"status": {}}}),
                    "additionalPrinterColumns": columns,
                }
                for version in VERSIONS
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, for every kind."""
    out: dict[str, dict[str, Any]] = {}
    for kind in [*KINDS, *CONFIG_KINDS]:
        crd = crd_for(kind)
        out[f"{crd['spec']['names']['plural']}.{API_GROUP}.yaml"] = crd
    return out
