"""Sparkplug B over MQTT: the payload schema and codec, and the Host Application connector.

``sparkplug_b.proto`` is the Sparkplug 3.0 payload schema; ``sparkplug_b_pb2`` is generated
from it (the regeneration command is at the top of the .proto). :mod:`.codec` turns
payloads into Python values and back and needs nothing but protobuf; :mod:`.host` is the
gateway's ``sparkplug`` protocol (a Host Application: ``DEVICE_CONFIG`` and ``CONNECTOR``
live there). The edge-node role exists only as a simulator
(:mod:`commonworks.connect.simulators.sparkplug_node`).
"""
