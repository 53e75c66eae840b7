# drtool in a container: for the Kubernetes CronJob of schedules/ (host network, the node's /etc
# mounted under --root /host, --host-network). Debian's own tools, as on the hosts drtool
# protects: iptables (nft and legacy) and WireGuard to read and restore the live state, nginx and
# fail2ban so that a restore validates with the real tools.
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv iptables iproute2 wireguard-tools nginx-light fail2ban util-linux \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /src/
COPY drtool /src/drtool
RUN python3 -m venv /opt/drtool \
    && /opt/drtool/bin/pip install --no-cache-dir /src \
    && rm -rf /src

ENV PATH=/opt/drtool/bin:$PATH
ENTRYPOINT ["drtool"]
CMD ["--help"]
