"""A1111 Hub: one HTTP API in front of AUTOMATIC1111 stable-diffusion-webui servers."""

__version__ = "0.1.0"
