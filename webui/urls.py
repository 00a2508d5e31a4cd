from django.urls import path

from webui import views

urlpatterns = [
    path("app", views.app_shell, name="webui"),
    path("app/", views.app_shell),
]
