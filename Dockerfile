# Hugging Face Spaces (Docker SDK) image for the Streamlit page: port 8501, user uid 1000, health check.
# Optional: Space variables GAUGAN_FETCH_NVIDIA_URL and GAUGAN_FETCH_NVIDIA_SHA256 fetch NVIDIA's models at start
# (see gaugan/space.py; CC BY-NC-SA 4.0, non-commercial use only).
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH
WORKDIR $HOME/app

COPY --chown=user requirements.txt .
# The CPU build of torch (the default Linux wheel pulls several GB of CUDA libraries).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -r requirements.txt
COPY --chown=user . .

EXPOSE 8501
HEALTHCHECK CMD curl --fail http://localhost:8501/_stcore/health || exit 1
ENTRYPOINT ["sh", "-c", "python -m gaugan.space; exec streamlit run streamlit_app/app.py --server.port=8501 --server.address=0.0.0.0 --server.headless=true"]
