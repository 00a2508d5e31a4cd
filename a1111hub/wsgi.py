import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from a1111hub.datadir import prepare_data_dir

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a1111hub.settings")
prepare_data_dir()
application = get_wsgi_application()
# The URL resolver's reverse map, built at start in each web process rather than by the
# first request that makes a link (about 0.1 s of CPU, measured by bench.cpu's profile).
get_resolver().reverse_dict  # noqa: B018
