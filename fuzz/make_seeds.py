#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/<vector name> from testdata/vectors.json.

Run from the repository root: python3 fuzz/make_seeds.py
Seeds are the vectors' exact bytes (plus the trove extension forms of the head, hello and LAN
packet), framed the way each target reads its input.
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V = json.load(open(os.path.join(ROOT, "testdata", "vectors.json")))
OUT = os.path.join(ROOT, "fuzz", "corpus")

# The selector byte of each response type (trove_fuzz::RESPONSES).
RESPONSES = {
    "FindNodeResult": 0, "FindValueResult": 1, "MANIFEST_DATA": 2, "PUBLIC_SHARE_LIST": 3,
    "COMMUNITY_STATUS": 4, "COMMUNITY_PUBLIC_SHARE_LIST": 5, "RELAY_REGISTERED": 6,
    "RELAY_LIST_RESPONSE": 7, "CHUNK_DATA": 8, "CHUNK_HASH_LIST": 9, "PEX_OFFER": 10,
    "PROVIDERS": 11, "CommunityMembers": 12, "COMMUNITY_RECORDS": 13, "COMMUNITY_RECORDS_ACCEPTED": 14,
}


def tstr(s):
    b = s.encode()
    assert len(b) < 24
    return bytes([0x60 + len(b)]) + b


def ints(b):
    assert len(b) in (16, 32)
    out = bytes([0x90]) if len(b) == 16 else bytes([0x98, 0x20])
    return out + b"".join(bytes([x]) if x < 24 else bytes([0x18, x]) for x in b)


def with_entry(cbor_map, key, value):
    """Appends one entry to a definite map with fewer than 23 entries."""
    assert 0xa0 <= cbor_map[0] < 0xb7
    return bytes([cbor_map[0] + 1]) + cbor_map[1:] + tstr(key) + value


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def h(s):
    return bytes.fromhex(s)


for e in V["envelopes"]:
    write("envelope", e["name"], h(e["envelope"]))
for e in V["payloads"]:
    payload = h(e["payload"])
    if e["role"] == "request":
        write("request_payload", e["name"], e["type"].to_bytes(2, "big") + payload)
    elif e["message"] in RESPONSES:
        write("response_payload", e["name"], bytes([RESPONSES[e["message"]]]) + payload)
    if e["message"] == "PEX_OFFER":
        write("response_payload", e["name"] + "_as_response", bytes([RESPONSES["PEX_OFFER"]]) + payload)
for e in V["community_members"]:
    write("response_payload", e["name"], bytes([RESPONSES["CommunityMembers"]]) + h(e["cbor"]))
relay = V["relay_announcements"][0]
write("response_payload", "461_with_" + relay["name"],
      bytes([RESPONSES["RELAY_LIST_RESPONSE"]]) + bytes([0xa1]) + tstr("announcements") + b"\x81" + h(relay["cbor"]))
for e in V["manifests"]:
    write("manifest", e["name"], h(e["transmitted_cbor"]))
for e in V["share_heads"]:
    write("share_head", e["name"], h(e["cbor"]))
    write("share_head", e["name"] + "_ext", with_entry(h(e["cbor"]), "share_pubkey", ints(h(e["share_pubkey"]))))
for m in V["handshake"][0]["messages"]:
    write("handshake_hello", m["name"], h(m["cbor"]))
    ext = bytes([0xa3]) + tstr("v") + b"\x01" + tstr("features") + b"\x81" + tstr("pipelining") \
        + tstr("bind") + b"\x58\x40" + bytes(64)
    write("handshake_hello", m["name"] + "_ext", with_entry(h(m["cbor"]), "trove", ext))
for e in V["share_links"]:
    write("share_link", e["name"], e["link"].encode())
for e in V["relay_announcements"]:
    write("relay_announcement", e["name"], h(e["cbor"]))
for e in V["membership_tokens"]:
    write("membership_token", e["name"], h(e["cbor"]))
for e in V["lan_packets"]:
    write("lan_packet", e["name"], h(e["cbor"]))
    ext = with_entry(with_entry(h(e["cbor"]), "quic_port", b"\x19\x1b\x58"), "node_pubkey", ints(bytes(range(32))))
    write("lan_packet", e["name"] + "_ext", ext)
for e in V["peer_addrs"]:
    write("peer_addr", e["name"], h(e["cbor"]))

# trove's community extension (docs/PROTOCOL.md §6), from testdata/ext_vectors.json.
EXT = json.load(open(os.path.join(ROOT, "testdata", "ext_vectors.json")))
for e in EXT["community"]["payloads"]:
    payload = h(e["payload"])
    if e["type"] in (4030, 4032):
        write("request_payload", "ext_" + e["name"], e["type"].to_bytes(2, "big") + payload)
    else:
        write("response_payload", "ext_" + e["name"], bytes([RESPONSES[e["name"].upper()]]) + payload)
