# reusegw container image. Build: docker build -t reusegw .
# Run with a directory holding config.yaml and the files it names (paths in
# the configuration are relative to its own directory):
#   docker run -v "$PWD/conf:/etc/reusegw:ro" -p 5061:5061 reusegw
# Docker's default seccomp profile refuses io_uring; reusegw then falls back
# to epoll on its own (runtime.io_backend: auto).

# --- builder: the same scripts as a developer machine and CI -----------------
FROM debian:12-slim AS builder
WORKDIR /src
COPY scripts/deps scripts/deps
RUN scripts/deps --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN scripts/build normal

# --- runtime: shared libraries and the binary, nothing else ------------------
FROM debian:12-slim
COPY scripts/deps /usr/local/lib/reusegw/deps
RUN /usr/local/lib/reusegw/deps --runtime \
    && rm -rf /var/lib/apt/lists/* /usr/local/lib/reusegw \
    && useradd --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin reusegw \
    && mkdir -p /etc/reusegw
# The binary keeps its build-tree RUNPATH to BoringSSL's android/ folder,
# which the runtime package installs at the same place.
COPY --from=builder /src/build/gateway/reusegw /usr/local/bin/reusegw
# Fail the image build, not the first start, when a shared library is missing.
RUN ! ldd /usr/local/bin/reusegw | grep -q "not found" && reusegw --version

USER reusegw
EXPOSE 5061
# Liveness from the admin endpoint (admin.listen, default 127.0.0.1:9091),
# with bash's /dev/tcp so the image needs no HTTP client.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["bash", "-c", \
  "exec 3<>/dev/tcp/127.0.0.1/9091 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# SIGTERM drains (runtime.drain_timeout, default 20 s): give `docker stop` a
# longer grace period, e.g. `docker stop -t 30`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["reusegw"]
CMD ["-c", "/etc/reusegw/config.yaml"]
