FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY provider ./provider
COPY plugins ./plugins
COPY templates ./templates
RUN pip install --no-cache-dir -e . && useradd --system provider && mkdir /data && chown provider /data
USER provider
ENV PROVIDER_DATA_DIR=/data
EXPOSE 8000
CMD ["provider", "serve", "--host", "0.0.0.0", "--port", "8000"]
