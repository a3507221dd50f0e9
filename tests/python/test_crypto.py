"""pycolonies' own crypto reproduces the protocol reference vectors (colonies-protocol.md, section 2),
and petri rejects signed requests from identities without access."""

from __future__ import annotations

import base64
import json

import pytest

import crypto
from crypto import Crypto
from pycolonies import ColoniesConnectionError

from petri_testlib import DEV_COLONY_NAME, DEV_SERVER_PRVKEY

ID_VECTORS = [
    ("fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d",
     "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103"),
    ("ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514",
     "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4"),
    ("ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05",
     "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac"),
    ("6d2fb6f546bacfd98c68769e61e0b44a697a30596c018a50e28200aa59b01c0a",
     "4fef2b5a82d134d058c1883c72d6d9caf77cd59ca82d73105017590dea3dcb87"),
    ("d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6",
     "5d6568f883451ae2e407d1a0a7992e414f2a67b69d0e6e9176d353b98f06f696"),
]


@pytest.mark.parametrize("prvkey,expected_id", ID_VECTORS)
def test_id_vectors(prvkey, expected_id):
    assert Crypto().id(prvkey) == expected_id


def test_sign_hello_vector():
    sig = crypto.sign("hello", "d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6")
    assert sig == ("e713a1bb015fecabb5a084b0fe6d6e7271fca6f79525a634183cfdb175fe6924"
                   "1f4da161779d8e6b761200e1cf93766010a19072fa778f9643363e2cfadd640900")
    assert Crypto().sign("hello", "d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6") == sig


def _payload(msg: dict) -> str:
    # exactly how pycolonies builds the envelope payload in Colonies.__rpc
    return str(base64.b64encode(json.dumps(msg).encode("utf-8")), "utf-8")


def test_getcolony_envelope_vector():
    payload = _payload({"msgtype": "getcolonymsg", "colonyname": "dev"})
    assert payload == "eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9"
    sig = crypto.sign(payload, "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05")
    assert sig == ("c7f3e05a972b20e3986201f12cc33a03921b5b3a900c9203541cefe7f8c7b792"
                   "20a19521a852fbb950469677584638f3130003e87fe5a3ab051c71bd3c0113d900")


def test_addcolony_envelope_vector():
    payload = _payload({"msgtype": "addcolonymsg",
                        "colony": {"colonyid": "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4",
                                   "name": "dev"}})
    assert payload == ("eyJtc2d0eXBlIjogImFkZGNvbG9ueW1zZyIsICJjb2xvbnkiOiB7ImNvbG9ueWlkIjogIjQ3ODdhNTA3MTg1NmE0"
                       "YWNmNzAyYjJmZmNlYTQyMmUzMjM3YTY3OWM2ODEzMTQxMTNkODYxMzk0NjEyOTBjZjQiLCAibmFtZSI6ICJkZXYifX0=")
    sig = crypto.sign(payload, DEV_SERVER_PRVKEY)
    assert sig == ("16b6802a133564361dca5a32dedfb3cbccfd829f5dc10cd2ddd1015622f11ab6"
                   "40a0aba5f009623be702cb01f166b976fc0855d072000526adcd521beb639f6a00")


def test_fresh_key_is_not_a_member(colonies):
    """A request signed with a fresh key for a colony it does not belong to is refused."""
    stranger = Crypto().prvkey()
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.get_colony(DEV_COLONY_NAME, stranger)
    assert "Access denied" in str(e.value)


def test_fresh_key_cannot_submit(colonies):
    from pycolonies import func_spec

    stranger = Crypto().prvkey()
    spec = func_spec(func="echo", args=["x"], colonyname=DEV_COLONY_NAME, executortype="echo_executor")
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.submit_func_spec(spec, stranger)
    assert "Access denied" in str(e.value)


def test_fresh_key_is_not_server_owner(colonies):
    stranger = Crypto().prvkey()
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.list_colonies(stranger)
    assert "Access denied" in str(e.value)
