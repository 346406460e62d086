"""`honed token`: an operator's commands, through the token service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from honed.cli.main import main
from honed.errors import PermissionDeniedError
from honed.service.tokens import TokenService
from honed.storage.sql.storage import SqlStorage


def test_create_list_and_revoke_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    runner = CliRunner()
    default = runner.invoke(main, ["token", "create", "--database-url", url])
    assert default.exit_code == 0, default.output
    tenant = runner.invoke(
        main,
        ["token", "create", "--database-url", url, "--new-client", "team b", "--read-only"],
    )
    assert tenant.exit_code == 0, tenant.output
    secret = tenant.stdout.strip()
    client_id = int(tenant.stderr.split()[1].rstrip(","))
    token_id = int(tenant.stderr.split()[4])
    assert client_id != 1

    listed = runner.invoke(
        main, ["token", "list", "--database-url", url, "--client", str(client_id)]
    )
    assert listed.output.splitlines() == [
        "id\ttype\tpermissions\tstate\tdescription\tscope",
        f"{token_id}\tclient-api\tread\tactive\t\tall",
    ]
    # Without --client: the default client's tokens only.
    default_tokens = runner.invoke(main, ["token", "list", "--database-url", url]).output
    # (the one minted on first start, and the first command's)
    assert [line.split("\t")[0] for line in default_tokens.splitlines()[1:]] == ["1", "2"]
    assert token_id == 3

    revoked = runner.invoke(main, ["token", "revoke", "--database-url", url, str(token_id)])
    assert revoked.output.strip() == f"revoked token {token_id}"
    storage = SqlStorage.from_url(url)
    try:
        with pytest.raises(PermissionDeniedError):
            TokenService(storage).authenticate(secret)
    finally:
        storage.close()
    listed = runner.invoke(
        main, ["token", "list", "--database-url", url, "--client", str(client_id)]
    )
    assert "\trevoked\t" in listed.output


def test_experiment_and_new_client_do_not_mix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    both = ["token", "create", "--database-url", url, "--experiment", "1", "--new-client", "x"]
    refused = CliRunner().invoke(main, both)
    assert refused.exit_code == 2
    assert "a new client owns no experiment" in refused.output


def test_revoking_a_token_that_does_not_exist_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    assert CliRunner().invoke(main, ["token", "create", "--database-url", url]).exit_code == 0
    missing = CliRunner().invoke(main, ["token", "revoke", "--database-url", url, "999999"])
    assert missing.exit_code == 1
    assert missing.output == "Error: token 999999 does not exist\n"


@pytest.mark.parametrize("command", [["list"], ["revoke", "2"]])
def test_listing_or_revoking_where_there_is_no_database_creates_none(
    tmp_path: Path, command: list[str]
) -> None:
    """`honed token list` in another directory than the server's made an empty honed.db
    there and listed nothing, as if the server had no tokens."""
    environment = {k: v for k, v in os.environ.items() if k != "HONED_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "honed", "token", *command],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: no database at {tmp_path / 'honed.db'}: run this where honed serve runs, "
        "or give its --database-url\n"
    )
    assert list(tmp_path.iterdir()) == []
