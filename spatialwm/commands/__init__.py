"""CLI verbs that belong to no single subpackage (demo, bench)."""
