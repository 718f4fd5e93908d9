"""Flower's configuration file: `celery -A worker.celery_app flower --conf=worker/flowerconfig.py`.

Flower executes it (tornado's `parse_config_file`) after reading its `FLOWER_*` environment and before
its command-line options; every module-level name that matches a Flower or tornado option sets it, so
this file defines nothing but options (an `import logging` here would set tornado's `logging`).
What it changes and why: `worker/celery/flower_access.py`.
"""

from worker.celery.flower_access import guard_flower, read_only_unless_asked

guard_flower()
read_only = read_only_unless_asked()
