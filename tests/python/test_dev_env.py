"""`petri dev` sets up the ColonyOS development environment (colonies-protocol.md, section 7)."""

from __future__ import annotations

import pytest

from petri_testlib import (
    DEV_COLONY_ID,
    DEV_COLONY_NAME,
    DEV_EXECUTOR_NAME,
    DEV_EXECUTOR_TYPE,
    DEV_ID,
    DEV_PRVKEY,
    DEV_SERVER_PRVKEY,
    DEV_USER_NAME,
    dev_env,
)


def test_dev_colony_exists(colonies):
    cols = colonies.list_colonies(DEV_SERVER_PRVKEY) or []
    assert {"colonyid": DEV_COLONY_ID, "name": DEV_COLONY_NAME} in [
        {"colonyid": c["colonyid"], "name": c["name"]} for c in cols
    ], cols


def test_dev_executor_is_approved(colonies):
    execs = colonies.list_executors(DEV_COLONY_NAME, DEV_PRVKEY) or []
    mine = [e for e in execs if e["executorname"] == DEV_EXECUTOR_NAME]
    assert len(mine) == 1, execs
    e = mine[0]
    assert e["executorid"] == DEV_ID
    assert e["executortype"] == DEV_EXECUTOR_TYPE
    assert e["colonyname"] == DEV_COLONY_NAME
    assert e["state"] == 1


def test_dev_user_exists(colonies):
    users = colonies.get_users(DEV_COLONY_NAME, DEV_PRVKEY) or []
    mine = [u for u in users if u["name"] == DEV_USER_NAME]
    assert len(mine) == 1, users
    assert mine[0]["userid"] == DEV_ID
    assert mine[0]["colonyname"] == DEV_COLONY_NAME


def test_dev_identity_is_a_member(colonies):
    colony = colonies.get_colony(DEV_COLONY_NAME, DEV_PRVKEY)
    assert colony["colonyid"] == DEV_COLONY_ID
    assert colony["name"] == DEV_COLONY_NAME


def test_printed_exports_match_dev_values(petri_server):
    """Whatever `export NAME=VALUE` lines petri dev prints agree with the dev environment."""
    if not petri_server.exports:
        pytest.skip("petri dev printed no `export NAME=VALUE` lines on stdout")
    expected = dev_env(petri_server.port)
    mismatches = {
        k: (v, expected[k])
        for k, v in petri_server.exports.items()
        if k in expected and k not in ("COLONIES_SERVER_HOST",) and v != expected[k]
    }
    assert not mismatches, f"printed value != expected value: {mismatches}"
    # the essentials a client needs must be among them
    for k in ("COLONIES_SERVER_PORT", "COLONIES_COLONY_NAME", "COLONIES_PRVKEY"):
        assert k in petri_server.exports, petri_server.exports
