from django.urls import path

from . import views

app_name = "slas"

urlpatterns = [
    path("catalogue/", views.CatalogueView.as_view(), name="catalogue"),
    path("promise/", views.PromiseView.as_view(), name="promise"),
]
