# One image for every service of docker-compose.yml (web, worker, beat); each differs only in its command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1
WORKDIR /app
COPY requirements.txt requirements-nodeps.txt constraints.txt ./
# torch first, pinned, so nothing pulls another build (on Linux x86-64 PyPI's 2.13.0 is the CUDA build).
RUN pip install --no-cache-dir -c constraints.txt torch==2.13.0 \
 && pip install --no-cache-dir -c constraints.txt -r requirements.txt \
 && pip install --no-cache-dir -c constraints.txt --no-deps -r requirements-nodeps.txt
COPY . .
# A throwaway key: collectstatic needs one, and the image must not carry one.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi", "-b", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--keep-alive", "10"]
