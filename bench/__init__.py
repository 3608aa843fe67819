"""The benchmark behind ``make bench`` (see bench/README.md)."""
