"""Review of issue 10: secret forms that reach diff's output.

nginx's auth_basic_user_file takes, besides the formats drtool recognises, ``{PLAIN}`` clear
text, ``{SSHA}`` salted SHA-1 and traditional DES crypt(3) (``htpasswd -d``): see
https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html#auth_basic_user_file. A password
file of those forms is printed by ``drtool diff`` line by line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli

FORMS = {
    "plain": "admin:{PLAIN}review-clear-password-1\n",
    "ssha": "admin:{SSHA}cmV2aWV3LXNzaGEtaGFzaC12YWx1ZTEyMzQ=\n",
    "des": "admin:rvAbCdEfGhIjK\n",
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_htpasswd_form_nginx_reads_is_withheld(
    cli: Cli, sample_root: Path, form: str
) -> None:
    password_file = sample_root / "etc/nginx/htpasswd"
    password_file.write_text(FORMS[form].replace("admin", "former"))
    cli("init")
    cli("backup")
    password_file.write_text(FORMS[form])
    shown = cli.run("diff", "latest")
    assert "/etc/nginx/htpasswd" in shown.stdout, shown.stderr  # it differs
    secret = FORMS[form].strip().split(":", 1)[1]
    assert secret not in shown.stdout, shown.stdout
