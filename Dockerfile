# drtool in a container: for the Kubernetes CronJobs of schedules/ (host network, the node's /etc
# mounted under --root /host, --host-network). Debian's own tools, as on the hosts drtool
# protects: iptables (nft and legacy) and WireGuard to read and restore the live state, nginx and
# fail2ban so that a restore validates with the real tools.
#
# Build (no index is reached inside the build: drtool and its dependencies come as wheels):
#   pip wheel --wheel-dir wheels . && docker build -t drtool .
# BASE may name a Debian image that already holds PACKAGES (tests/e2e/test_image.py builds one
# with mmdebstrap and `docker import`); then nothing is downloaded at all.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ARG PACKAGES="python3 python3-venv iptables iproute2 wireguard-tools nginx-light fail2ban util-linux"
RUN dpkg-query -W ${PACKAGES} >/dev/null 2>&1 || { \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES} \
        && rm -rf /var/lib/apt/lists/*; }

COPY wheels /wheels
RUN python3 -m venv /opt/drtool \
    && /opt/drtool/bin/pip install --no-index --find-links /wheels --no-cache-dir drtool \
    && rm -rf /wheels

ENV PATH=/opt/drtool/bin:$PATH
ENTRYPOINT ["drtool"]
CMD ["--help"]
