"""a1111sim: a stand-alone AUTOMATIC1111 stable-diffusion-webui API simulator.

It speaks A1111 v1.10's HTTP API (plus ControlNet and Regional Prompter) closely enough to
be the test double and no-GPU demo backend of the hub. See ``server.start_in_thread``.
"""

__version__ = "0.1.0"
