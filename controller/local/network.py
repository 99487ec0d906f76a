"""The network the examples name, made to exist in moto's EC2 under those exact ids.

Design: the examples (and users' files) name placeholder ids such as `subnet-aaa` and
`sg-xxx`. moto only hands out random ids, so each missing id is created through moto's own
EC2 backend (in a dedicated VPC `ecs-gitops-emulated` with DNS hostnames enabled, which
moto needs to give awsvpc task ENIs a DNS name) and then re-keyed in-process: the object's
id, its key in the backend's dict and the references moto keeps to it (the subnet's
network-ACL association, the group's default egress rule, its ARN) are renamed. Creating
through moto rather than constructing objects keeps every other attribute right.

It works on the backends of this process, so call it with the emulator's lock held (the
emulator does) or before the server takes requests. Idempotent: existing ids are kept, and
`ensure_network` is cheap enough for the emulator to call on every tick, which also brings
the network back after a `POST /moto-api/reset`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.subnets import Subnet
from moto.ec2.models.vpcs import VPC

VPC_NAME = "ecs-gitops-emulated"
VPC_CIDR = "10.99.0.0/16"
EMULATED_TAG = "ecs-gitops.dev/emulated"


def precreate_network(
    *,
    region: str,
    subnets: Iterable[str] = (),
    security_groups: Iterable[str] = (),
    account_id: str = "123456789012",
) -> None:
    """Make the given subnet and security group ids exist in `region` (idempotent)."""
    ec2 = ec2_backends[account_id][region]
    vpc = _emulated_vpc(ec2)
    for subnet_id in subnets:
        if _find_subnet(ec2, subnet_id) is None:
            _create_subnet(ec2, vpc, subnet_id)
    for group_id in security_groups:
        if ec2.get_security_group_from_id(group_id) is None:
            _create_security_group(ec2, vpc, group_id)


def network_present(
    *, region: str, subnets: Iterable[str], security_groups: Iterable[str], account_id: str
) -> bool:
    """True when every id exists (a dict walk, no allocation): the per-tick check."""
    ec2 = ec2_backends[account_id][region]
    return all(_find_subnet(ec2, s) is not None for s in subnets) and all(
        ec2.get_security_group_from_id(g) is not None for g in security_groups
    )


def _emulated_vpc(ec2: EC2Backend) -> VPC:
    for vpc in list(ec2.vpcs.values()):
        if any(t["key"] == EMULATED_TAG for t in vpc.get_tags()):
            return vpc
    vpc = ec2.create_vpc(
        cidr_block=VPC_CIDR,
        tags=[{"Key": "Name", "Value": VPC_NAME}, {"Key": EMULATED_TAG, "Value": "true"}],
    )
    ec2.modify_vpc_attribute(vpc.id, "enable_dns_support", True)  # type: ignore[arg-type]
    ec2.modify_vpc_attribute(vpc.id, "enable_dns_hostnames", True)  # type: ignore[arg-type]
    return vpc


def _find_subnet(ec2: EC2Backend, subnet_id: str) -> Subnet | None:
    for per_zone in list(ec2.subnets.values()):
        found = per_zone.get(subnet_id)
        if found is not None:
            return found
    return None


def _zones(ec2: EC2Backend) -> list[str]:
    names = sorted(z.name for z in ec2.describe_availability_zones())
    return names or [f"{ec2.region_name}a"]


def _free_cidr(ec2: EC2Backend, vpc: VPC) -> str:
    taken = [
        ipaddress.IPv4Network(s.cidr_block)
        for per_zone in ec2.subnets.values()
        for s in per_zone.values()
        if s.vpc_id == vpc.id
    ]
    for candidate in ipaddress.IPv4Network(VPC_CIDR).subnets(new_prefix=24):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise RuntimeError(f"no free /24 left in the emulated VPC {VPC_CIDR}")


def _create_subnet(ec2: EC2Backend, vpc: VPC, subnet_id: str) -> None:
    zones = _zones(ec2)
    ours = sum(
        1 for per_zone in ec2.subnets.values() for s in per_zone.values() if s.vpc_id == vpc.id
    )
    zone = zones[ours % len(zones)]
    subnet = ec2.create_subnet(
        vpc_id=vpc.id, cidr_block=_free_cidr(ec2, vpc), availability_zone=zone
    )
    old_id = subnet.id
    per_zone = ec2.subnets[zone]
    del per_zone[old_id]
    subnet.id = subnet_id
    per_zone[subnet_id] = subnet
    for acl in ec2.network_acls.values():
        for association in acl._associations.values():
            if association.subnet_id == old_id:
                association.subnet_id = subnet_id
    subnet.add_tags({"Name": subnet_id, EMULATED_TAG: "true"})


def _create_security_group(ec2: EC2Backend, vpc: VPC, group_id: str) -> None:
    group = ec2.create_security_group(
        name=f"emulated-{group_id}", description=f"emulated {group_id}", vpc_id=vpc.id
    )
    old_id = group.id
    ec2.groups[vpc.id].pop(old_id)
    group.id = group.group_id = group_id
    group.arn = group.arn.replace(old_id, group_id)
    for rule in [*group.egress_rules, *group.ingress_rules]:
        if rule.group_id == old_id:
            rule.group_id = group_id
    ec2.groups[vpc.id][group_id] = group
    group.add_tags({"Name": group_id, EMULATED_TAG: "true"})
