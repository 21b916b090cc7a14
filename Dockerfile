# The production image. web (gunicorn), worker and beat (celery) all run from it: see docker-compose.yml.
# Debian 12, like CI, and with the system time-zone database that zoneinfo needs.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=servicedesk.settings.production

WORKDIR /app
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Only what runs: no .venv, .env, var/ or tests end up in the image.
COPY manage.py ./
COPY servicedesk ./servicedesk
COPY stakeholders ./stakeholders
COPY requests_app ./requests_app
COPY slas ./slas
COPY webhooks ./webhooks
COPY api ./api
COPY templates ./templates
COPY static ./static

# collectstatic imports the production settings, which refuse to start without their secrets; these
# placeholders exist for this one command and never reach a running container.
RUN SECRET_KEY=build-time-placeholder-not-a-secret-0123456789-abcdefghijklmnop \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
    && mkdir -p var/media \
    && chown -R app:app var

USER app
EXPOSE 8000
CMD ["gunicorn", "servicedesk.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
