import os

from django.core.wsgi import get_wsgi_application

from a1111hub.datadir import prepare_data_dir

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a1111hub.settings")
prepare_data_dir()
application = get_wsgi_application()
