"""The error tree says once, on its root, whether an error is retried.

`run`'s manager, `sync` and the runtime's work queue all decide retry-or-stall from the
same `retryable` attribute; these tests walk every class of controller.errors, so a
new class, or a second declaration that drifts, is caught here.
"""

from __future__ import annotations

import inspect

import pytest

from controller import errors
from controller.errors import EcsGitopsError
from controller.runtime import default_is_retryable

TREE = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, EcsGitopsError)
    ),
    key=lambda cls: cls.__name__,
)

TRANSIENT = {
    errors.AwsRetryable,
    errors.AwsThrottled,
    errors.NotReady,
    errors.SourceNetworkError,
}
"""The classes the tree's docstring marks as retried (-> retry, -> backoff, retried)."""


def test_retryable_is_declared_on_the_root_and_only_turned_on_below_it() -> None:
    declared = {cls for cls in TREE if "retryable" in vars(cls)}
    assert EcsGitopsError in declared
    assert EcsGitopsError.retryable is False
    # below the root a class only ever says True: a transient branch of the tree
    assert {cls for cls in declared if cls is not EcsGitopsError} <= TRANSIENT
    assert all(cls.retryable is True for cls in declared - {EcsGitopsError})


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_every_error_is_retried_or_stalled_the_same_way_everywhere(
    cls: type[EcsGitopsError],
) -> None:
    error = cls.__new__(cls)  # the constructors differ; the class alone decides
    assert error.retryable is (cls in TRANSIENT)
    # the work queue's duck-typed default (which `run` and `sync` both use) agrees
    assert default_is_retryable(error) is (cls in TRANSIENT)
