"""An installed Django app for the client suite's wiki models: Django's deletion collector sees a
model's reverse relations only among installed apps' models, so the ORM-side cascade is measured on
models registered here (test/clients/client_django.py)."""
