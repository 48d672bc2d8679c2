FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY adapters adapters
RUN pip install --no-cache-dir .
EXPOSE 8080 50051
VOLUME ["/data"]
CMD ["threadgate", "serve", "--host", "0.0.0.0", "--data-dir", "/data"]
