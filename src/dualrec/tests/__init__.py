"""Tests of the framework-free package; none needs a database."""
