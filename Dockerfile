# One image for every service of docker-compose.yml: the Ray head, the GPU workers and the
# driver must run the same Python, Ray and torch versions.
#
# torch's default wheel bundles the CUDA runtime; the NVIDIA Container Toolkit on the host
# supplies the driver, so a slim Python base is enough for GPU workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The project (the four import packages), then Ray's dashboard / job-submission extras at
# exactly the Ray version the project resolved to.
COPY pyproject.toml README.md ./
COPY evo ./evo
COPY workers ./workers
COPY optimizers ./optimizers
COPY storage ./storage
RUN pip install . \
    && pip install "ray[default]==$(python -c 'import ray; print(ray.__version__)')"

COPY configs ./configs

# Run unprivileged; runs/ (the database) and data/ are bind-mounted by docker-compose and
# must be writable / readable by uid 1000 on the host.
RUN useradd --uid 1000 --create-home evo \
    && mkdir -p /app/runs /app/data \
    && chown evo:evo /app/runs /app/data
USER evo

CMD ["evo", "--help"]
