"""Tests of the pure supervision core, without Home Assistant."""
