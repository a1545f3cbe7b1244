"""Tests of the trygghetskamera integration."""
