from django.urls import path

from webui import views

urlpatterns = [
    path("app", views.app_shell, name="webui"),
    path("app/", views.app_shell),
    path("app/sign-in", views.sign_in_with_link, name="webui-sign-in"),
]
