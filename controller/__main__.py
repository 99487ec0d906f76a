"""`python -m controller` is `ecs-gitops`."""

from controller.cli import main

main()
