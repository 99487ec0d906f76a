"""The preflight checks themselves, one coroutine per concern (see runner.py).

Each reads through run.lookups, reports through run.add (a path into the task definition
or, with in_td=False, into the resource) and leaves what later checks need on the run:
the roles, images and secrets found, which the permission check then judges. Messages
say what is wrong, what ECS would do about it, and the command or change that fixes it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from controller.aws.lookups import TargetGroupInfo, parse_ecr_image
from controller.reconcile.preflight.permissions import (
    EXECUTION_POLICY_ARN,
    RolePolicies,
    arn_parts,
    log_group_arn,
    parameter_arn,
    repository_arn,
)
from controller.reconcile.preflight.problems import Run
from controller.reconcile.secrets import parse_value_from, referenced_secrets

if TYPE_CHECKING:
    from controller.api.ecs_shapes import LoadBalancer

ECS_TASKS = "ecs-tasks.amazonaws.com"
TRUST = (
    '{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}'
)
PULL = "tasks would stop with CannotPullContainerError"
INJECT = "ECS could not inject it and tasks would stop with ResourceInitializationError"


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if arn.startswith("arn:") else arn


async def images(run: Run) -> None:
    async def one(i: int, image: str) -> None:
        path = ("containerDefinitions", i, "image")
        ref = parse_ecr_image(image)
        if ref is None:
            run.add(path, f"{image} is not an ECR image: not checked", severity="note")
            return
        state = run.images[image] = await run.lookups.image(ref)
        if state == "no-repository":
            run.add(
                path,
                f"image {image} cannot be pulled: ECR repository {ref.repository} does not exist "
                f"in account {ref.account} ({ref.region}); {PULL}",
                f"create it (aws ecr create-repository --repository-name {ref.repository} "
                f"--region {ref.region}) and push the image, or correct the image name",
            )
        elif state == "no-image":
            run.add(
                path,
                f"image {image} was never pushed: repository {ref.repository} has no "
                f"{ref.version}; {PULL}",
                f"push it (docker push {image}) or point image at a tag that exists",
            )

    containers = enumerate(run.td.container_definitions)
    await asyncio.gather(*(one(i, c.image) for i, c in containers if c.image))


async def roles(run: Run) -> None:
    td = run.td
    fields = [
        (f, arn)
        for f, arn in (
            ("executionRoleArn", td.execution_role_arn),
            ("taskRoleArn", td.task_role_arn),
        )
        if arn
    ]
    names = sorted({role_name(arn) for _, arn in fields})
    found = await asyncio.gather(*(run.lookups.role(n) for n in names))
    run.roles.update(zip(names, found, strict=True))
    for f, arn in fields:
        name = role_name(arn)
        info = run.roles[name]
        what = "execution role" if f == "executionRoleArn" else "task role"
        if info is None:
            does = (
                "ECS pulls the image, writes the logs and reads the secrets with it"
                if f == "executionRoleArn"
                else "your code's AWS calls run as it"
            )
            policy = (
                f" and attach AmazonECSTaskExecutionRolePolicy ({EXECUTION_POLICY_ARN})"
                if f == "executionRoleArn"
                else " and the permissions your code needs"
            )
            run.add(
                (f,),
                f"the {what} {name} does not exist ({does}): tasks would stop before starting",
                f"create it with the trust policy {TRUST}{policy}, or correct {f}",
            )
        elif ECS_TASKS not in info.trusted_services:
            trusted = ", ".join(sorted(info.trusted_services)) or "no AWS service"
            run.add(
                (f,),
                f"the {what} {name} does not trust {ECS_TASKS} (its trust policy allows {trusted}), "
                "so ECS cannot assume it for the tasks",
                f"add {TRUST} to its trust policy (aws iam update-assume-role-policy --role-name {name})",
            )


async def secrets(run: Run) -> None:
    refs = [(path, parse_value_from(v, run.region)) for path, v in referenced_secrets(run.td)]
    wanted = sorted({(r.region, r.lookup) for _, r in refs if r.store == "secretsmanager"})
    infos = await asyncio.gather(*(run.lookups.secret(lookup, reg) for reg, lookup in wanted))
    run.secrets.update(zip(wanted, infos, strict=True))
    by_region: dict[str, list[str]] = {}
    for _, r in refs:
        if r.store == "ssm":
            by_region.setdefault(r.region, []).extend(r.candidates)
    for reg, names in by_region.items():
        found = await run.lookups.parameters(names, reg)
        run.parameters.update((reg, n) for n in found)
    for path, r in refs:
        if r.store == "ssm":
            if not any((r.region, n) in run.parameters for n in r.candidates):
                run.add(
                    path,
                    f"parameter {r.name} does not exist in Parameter Store ({r.region}): {INJECT}",
                    f"create it (aws ssm put-parameter --name {r.name} --type SecureString "
                    f"--region {r.region} --value ...) or correct valueFrom",
                )
            continue
        info = run.secrets[(r.region, r.lookup)]
        if info is None:
            other = (
                await run.lookups.secret(r.name, r.region) if r.lookup.startswith("arn:") else None
            )
            if other is not None:
                run.secrets[(r.region, r.lookup)] = None
                run.secrets[(r.region, other.arn)] = other  # it exists: evidence of provisioning
                suffix = r.value_from[len(r.lookup) :]
                run.add(
                    path,
                    f"no secret has the ARN {r.lookup}, but a secret named {r.name} does, with "
                    f"ARN {other.arn} (an ARN ends in a random 6-character suffix): {INJECT}",
                    f"set valueFrom to {other.arn}{suffix}",
                )
            else:
                run.add(
                    path,
                    f"secret {r.name} does not exist in Secrets Manager ({r.region}): {INJECT}",
                    f"create it (aws secretsmanager create-secret --name {r.name} --region "
                    f"{r.region} --secret-string ...) and set valueFrom to its ARN, or correct valueFrom",
                )
        elif info.scheduled_for_deletion:
            run.add(
                path,
                f"secret {info.name} is scheduled for deletion: {INJECT}",
                f"restore it (aws secretsmanager restore-secret --secret-id {info.arn})",
            )
        elif r.version_id and r.version_id not in info.versions:
            run.add(
                path,
                f"secret {info.name} has no version {r.version_id}: {INJECT}",
                "name an existing version id (aws secretsmanager list-secret-version-ids) or drop it",
            )
        elif r.version_stage and info.version_with_stage(r.version_stage) is None:
            run.add(
                path,
                f"no version of secret {info.name} carries the label {r.version_stage}: {INJECT}",
                "use AWSCURRENT (leave the stage empty) or a label the secret has",
            )


async def log_groups(run: Run) -> None:
    wanted: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(run.td.container_definitions):
        lc = c.log_configuration
        if lc is None or lc.log_driver != "awslogs":
            continue
        options = lc.options or {}
        group = options.get("awslogs-group")
        if not group or options.get("awslogs-create-group", "").lower() == "true":
            continue
        wanted.setdefault((group, options.get("awslogs-region") or run.region), []).append(i)
    keys = sorted(wanted)
    exists = await asyncio.gather(*(run.lookups.log_group_exists(g, reg) for g, reg in keys))
    run.log_groups.update(zip(keys, exists, strict=True))
    for (group, reg), present in zip(keys, exists, strict=True):
        if present:
            continue
        for i in wanted[(group, reg)]:
            run.add(
                ("containerDefinitions", i, "logConfiguration", "options", "awslogs-group"),
                f"log group {group} does not exist in {reg}: tasks would fail to start "
                "(ResourceInitializationError: the awslogs driver cannot create its stream)",
                f'create it (aws logs create-log-group --log-group-name {group} --region {reg}) or set awslogs-create-group: "true" (the execution role then needs logs:CreateLogGroup)',
            )


async def network(run: Run) -> None:
    spec = run.svc.spec
    conf = spec.network_configuration.awsvpc_configuration if spec.network_configuration else None
    subnet_ids = conf.subnets if conf else []
    group_ids = (conf.security_groups or []) if conf else []
    lbs = [(k, lb) for k, lb in enumerate(spec.load_balancers) if lb.target_group_arn]
    subnets, groups = await asyncio.gather(
        run.lookups.subnets(subnet_ids), run.lookups.security_groups(group_ids)
    )
    tgs = await asyncio.gather(
        *(
            run.lookups.target_group(lb.target_group_arn or "", _arn_region(lb, run.region))
            for _, lb in lbs
        )
    )
    base = ("spec", "networkConfiguration", "awsvpcConfiguration")
    for what, ids, found, key, command in (
        ("subnet", subnet_ids, subnets, "subnets", "describe-subnets"),
        ("security group", group_ids, groups, "securityGroups", "describe-security-groups"),
    ):
        for k, item in enumerate(ids):
            if item not in found:
                run.add(
                    (*base, key, k),
                    f"{what} {item} does not exist in {run.region}: ECS refuses to place the tasks",
                    f"use an id from aws ec2 {command} --region {run.region}",
                    in_td=False,
                )
    vpcs = sorted(set(subnets.values()) | set(groups.values()))
    if len(vpcs) > 1:
        run.add(
            base,
            f"the subnets and security groups are in different VPCs ({', '.join(vpcs)}): "
            "a task's network interface lives in one VPC",
            "use subnets and security groups of the same VPC",
            in_td=False,
        )
    task_vpc = next(iter(set(subnets.values()))) if len(set(subnets.values())) == 1 else None
    for (k, lb), tg in zip(lbs, tgs, strict=True):
        _target_group(run, k, lb, tg, task_vpc)
    for k, lb in enumerate(spec.load_balancers):
        if not lb.target_group_arn and lb.load_balancer_name:
            run.add(
                ("spec", "loadBalancers", k, "loadBalancerName"),
                f"classic load balancer {lb.load_balancer_name} is not checked",
                in_td=False,
                severity="note",
            )


def _arn_region(lb: LoadBalancer, default: str) -> str:
    parts = (lb.target_group_arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def _target_group(
    run: Run, k: int, lb: LoadBalancer, tg: TargetGroupInfo | None, task_vpc: str | None
) -> None:
    at = ("spec", "loadBalancers", k)
    port = lb.container_port
    if tg is None:
        run.add(
            (*at, "targetGroupArn"),
            f"target group {lb.target_group_arn} does not exist: ECS refuses the task set",
            f"create it (aws elbv2 create-target-group --target-type ip --port {port} ...) "
            "or correct targetGroupArn",
            in_td=False,
        )
        return
    if run.td.network_mode == "awsvpc" and tg.target_type != "ip":
        run.add(
            (*at, "targetGroupArn"),
            f"target group {tg.name} has target type {tg.target_type}, but awsvpc tasks (every "
            "Fargate task) register by IP address: ECS refuses it",
            "create a target group with --target-type ip (the type cannot be changed) and use its ARN",
            in_td=False,
        )
    if task_vpc and tg.vpc_id and tg.vpc_id != task_vpc:
        run.add(
            (*at, "targetGroupArn"),
            f"target group {tg.name} is in {tg.vpc_id} but the tasks' subnets are in {task_vpc}: "
            "IP targets must be in the target group's VPC",
            "use a target group of the tasks' VPC, or subnets of the target group's",
            in_td=False,
        )
    container = next((c for c in run.td.container_definitions if c.name == lb.container_name), None)
    mappings = (container.port_mappings or []) if container else []
    served = {pm.container_port for pm in mappings}
    if port is not None and tg.port is not None and tg.port != port:
        run.add(
            (*at, "containerPort"),
            f"target group {tg.name} is for port {tg.port}, but the container takes the traffic "
            f"on {port} (ECS registers each task on containerPort): security group rules opened "
            f"for port {tg.port} keep the load balancer out and the targets go unhealthy (a "
            "deploy that succeeds while the load balancer marks every target unhealthy)",
            f"use a target group on port {port}, or set containerPort (and the app) to {tg.port}",
            in_td=False,
        )
    check_port = tg.health_check_port
    if check_port and check_port.isdigit() and int(check_port) not in served:
        run.add(
            (*at, "targetGroupArn"),
            f"target group {tg.name} health-checks port {check_port}, where container "
            f"{lb.container_name} listens on nothing: every target would be unhealthy",
            f"set the health check port to traffic-port (aws elbv2 modify-target-group "
            f"--target-group-arn {tg.arn} --health-check-port traffic-port)",
            in_td=False,
        )
    mapping = next((pm for pm in mappings if pm.container_port == port), None)
    transport = (mapping.protocol if mapping and mapping.protocol else "tcp").lower()
    protocol = (tg.protocol or "").upper()
    needs = {"UDP": "udp", "TCP_UDP": transport}.get(protocol, "tcp")
    if protocol == "GENEVE" or needs != transport:
        run.add(
            (*at, "containerPort"),
            f"target group {tg.name} speaks {protocol}, but port {port} of container "
            f"{lb.container_name} is {transport}",
            f"use a target group whose protocol carries {transport}, or fix the portMapping's protocol",
            in_td=False,
        )


async def permissions(run: Run) -> None:
    arn = run.td.execution_role_arn
    name = role_name(arn) if arn else None
    info = run.roles.get(name) if name else None
    if name is None or info is None:
        return
    partition, account = arn_parts(info.arn) or ("aws", "")
    policies = RolePolicies.from_lookup(name, await run.lookups.role_policies(name))

    def need(path: tuple[str | int, ...], needs: list[tuple[str, str]], why: str, fix: str) -> None:
        missing: list[str] = []
        certain = True
        for action, resource in needs:
            lacking, sure = policies.missing([action], resource)
            missing += [f"{a} on {resource}" for a in lacking]
            certain = certain and (sure or not lacking)
        if missing:
            unsure = "" if certain else " (some of its policies could not be read: check them)"
            run.add(
                path,
                f"the execution role {name} is not allowed {', '.join(missing)}{unsure}: {why}",
                fix,
                severity="error" if certain else "note",
            )

    attach = f"attach AmazonECSTaskExecutionRolePolicy (aws iam attach-role-policy --role-name {name} --policy-arn {EXECUTION_POLICY_ARN})"
    for i, c in enumerate(run.td.container_definitions):
        ref = parse_ecr_image(c.image or "")
        if ref is not None and run.images.get(c.image or "") == "present":
            repo = repository_arn(ref.account, ref.region, ref.repository, partition)
            pull = [("ecr:GetAuthorizationToken", "*")]
            pull += [(a, repo) for a in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")]
            need(
                ("containerDefinitions", i, "image"),
                pull,
                PULL,
                attach,
            )
        lc = c.log_configuration
        if (
            lc is not None
            and lc.log_driver == "awslogs"
            and (lc.options or {}).get("awslogs-group")
        ):
            options = lc.options or {}
            group = log_group_arn(
                account,
                options.get("awslogs-region") or run.region,
                options["awslogs-group"],
                partition,
            )
            actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
            if options.get("awslogs-create-group", "").lower() == "true":
                actions.append("logs:CreateLogGroup")
            need(
                ("containerDefinitions", i, "logConfiguration", "options", "awslogs-group"),
                [(a, group) for a in actions],
                "tasks would fail to start: the awslogs driver cannot write",
                f"{attach}, and allow logs:CreateLogGroup if awslogs-create-group is set",
            )
    for path, value_from in referenced_secrets(run.td):
        r = parse_value_from(value_from, run.region)
        if r.store == "secretsmanager":
            found = run.secrets.get((r.region, r.lookup))
            if found is None:
                continue
            action, resource = "secretsmanager:GetSecretValue", found.arn
        else:
            name_found = next((n for n in r.candidates if (r.region, n) in run.parameters), None)
            if name_found is None:
                continue
            action, resource = (
                "ssm:GetParameters",
                parameter_arn(account, r.region, name_found, partition),
            )
        need(
            path,
            [(action, resource)],
            f"the secret would not be injected: {INJECT.split(' and ', 1)[1]}",
            f"allow {action} on {resource} in a policy of role {name} (and kms:Decrypt on its key "
            "if a customer managed key encrypts it)",
        )
