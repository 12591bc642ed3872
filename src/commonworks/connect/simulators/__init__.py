"""Simulated factories: real protocol servers (OPC UA, Modbus TCP, Sparkplug B over MQTT)
fed by seeded machine models."""
