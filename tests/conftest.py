"""Suite-wide guarantees: the tests never reach the network.

The hub is told to stay offline (so an unknown id fails at once instead of retrying), and pytest-socket (enabled in
pyproject's addopts) refuses every connection that is not to this machine's loopback.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
