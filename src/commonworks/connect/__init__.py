"""The edge gateway: reads machines over their own protocols and forwards samples to the platform.

Everything here runs on a factory PC and imports nothing from the server side
(``commonworks.core``, ``telemetry`` …): it knows only the ingest protocol in
:mod:`commonworks.connect.protocol`.
"""
