from django.urls import path

from discord_app import views

urlpatterns = [path("discord/interactions", views.interactions, name="discord-interactions")]
