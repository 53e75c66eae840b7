"""drtool: disaster recovery for a host's network-security configuration."""

__version__ = "0.1.0"
