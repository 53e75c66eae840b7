"""A real boto3 KMS client given botocore's Stubber, for the fast tests of drtool/keyring/kms.py
and its callers: every request's parameters are checked against the queued ones and the KMS API's
own shapes, every response against its output shape, and nothing leaves the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from botocore.stub import Stubber

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@contextmanager
def stubbed_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The Stubber of the client drtool gets from ``boto3.client("kms")``; every response queued
    must have been asked for."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    client = session.client("kms")

    def kms_client(service_name: str) -> object:
        assert service_name == "kms"
        return client

    monkeypatch.setattr(boto3, "client", kms_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def enabled(stubber: Stubber, arn: str = ARN, state: str | None = "Enabled") -> None:
    """Queue DescribeKey's answer: key ``arn`` in ``state`` (None: no KeyState at all)."""
    metadata = {"KeyId": arn} if state is None else {"KeyId": arn, "KeyState": state}
    stubber.add_response("describe_key", {"KeyMetadata": metadata}, {"KeyId": arn})
