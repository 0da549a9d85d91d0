"""The form check of addresses users look up (`tags.addressform`, `tags.addresslist`), on the real
OFAC lists: every listed address valid for its currency is accepted with the key tags are stored
under, every one of them with one character changed is refused, and files written the way Excel
and Windows write them lose no row."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.address import B58_ALPHABET
from fundtrail.errors import DataError, UsageError
from fundtrail.tags.addressform import CHECKSUM, FORMAT, UNRECOGNISED, check_address
from fundtrail.tags.addresslist import read_address_list
from fundtrail.tags.currencies import InvalidAddress, normalise

OFAC = "sanctions/ofac-0xB10C"
HYDRA = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"  # in the OFAC XBT list and the Hydra pack
TORNADO = "0x8589427373D6D84E98730D7795D8f6f8731FDA16"  # OFAC ETH list, EIP-55 mixed case


def _ofac(testdata: Path) -> list[tuple[str, str, int, str]]:
    """(asset, currency, line, address) of every line of every OFAC .txt list."""
    out = []
    for path in sorted((testdata / OFAC).glob("sanctioned_addresses_*.txt")):
        asset = path.stem.rsplit("_", 1)[1]
        currency = {"XBT": "BTC"}.get(asset, asset)
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                out.append((asset, currency, n, line.strip()))
    return out


def _valid(testdata: Path) -> list[tuple[str, str, str]]:
    """(currency, address, validation) of the OFAC entries the importer's validator accepts."""
    out = []
    for _, currency, _, address in _ofac(testdata):
        try:
            _, _, validation = normalise(currency, address)
        except InvalidAddress:
            continue
        out.append((currency, address, validation))
    return out


def test_every_valid_ofac_address_is_accepted_with_its_stored_key(testdata: Path) -> None:
    valid = _valid(testdata)
    assert len(valid) > 600 and {c for c, _, _ in valid} >= {"BTC", "ETH", "TRX", "LTC", "XMR", "XRP", "ZEC"}
    for currency, address, validation in valid:
        form = check_address(address)
        assert form.key == normalise(currency, address)[1], address  # the key the tag is stored under
        assert form.validation != UNRECOGNISED, address
        if validation == CHECKSUM:
            assert form.validation == CHECKSUM, address


def _typo(address: str) -> str:
    """The address with one character in the middle replaced by another of its alphabet."""
    i = len(address) // 2
    alphabet = "0123456789abcdef" if address.startswith("0x") else B58_ALPHABET
    if address.lower().startswith(("bc1", "ltc1", "q", "p")):  # bech32 and cashaddr
        alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    c = address[i]
    repl = next(a for a in alphabet if a != c and a.lower() != c.lower())
    if address.startswith("0x") and c.isupper():
        repl = repl.upper()
    return address[:i] + repl + address[i + 1:]


def test_one_changed_character_is_refused_for_every_checksummed_ofac_address(testdata: Path) -> None:
    checked = [(c, a) for c, a, v in _valid(testdata) if v == CHECKSUM]
    assert len(checked) > 400
    for _, address in checked:
        with pytest.raises(InvalidAddress):
            check_address(_typo(address))
        with pytest.raises(InvalidAddress):  # a character left out
            check_address(address[:-1])


def test_the_tron_address_in_the_xbt_list_is_a_tron_address(testdata: Path) -> None:
    # The XBT list's line 355 is a TRON address: invalid as BTC, but a well-formed address.
    (entry,) = [e for e in _ofac(testdata) if e[0] == "XBT" and e[2] == 355]
    with pytest.raises(InvalidAddress):
        normalise("BTC", entry[3])
    assert check_address(entry[3]).currency == "TRX"


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("hello world", "space"),
    ("1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB", "checksum"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "EIP-55"),
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", "wrong length"),
    ("0xnothex", "hex"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx", "checksum"),
    ("qzuqzn8y2726k2pwx3767zmja9m9wdh5wyukklr6kg", "cashaddr checksum"),
    ("café", "character"),
])
def test_malformed_text_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        check_address(text)


def test_forms_without_a_checksum_and_unrecognised_text() -> None:
    assert check_address("4" + "A" * 94).validation == FORMAT  # Monero's shape
    assert check_address("H8z2yZcrKo7ngiMz3Vsuw823nYo11qdCqs3sJDDjeTdD").validation == FORMAT  # Solana key
    assert check_address("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ").key == \
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    for text in ("not-an-address", "bitfinexcw21", "41f366c2" * 8):  # caller decides: tags or error
        assert check_address(text).validation == UNRECOGNISED


def test_bom_crlf_utf16_and_csv_lists_lose_no_row(tmp_path: Path) -> None:
    body = f"{HYDRA}\r\n{TORNADO}\r\n{TORNADO.lower()}\r\n1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB\r\n"
    for name, data in (("bom.txt", b"\xef\xbb\xbf" + body.encode()),
                       ("u16.txt", ("address\r\n" + body).encode("utf-16"))):
        path = tmp_path / name
        path.write_bytes(data)
        listed = read_address_list(path)
        offset = 1 if name == "u16.txt" else 0  # the header line
        assert [(r.line, r.text) for r in listed.rows] == [(1 + offset, HYDRA), (2 + offset, TORNADO)]
        assert listed.duplicates == 1 and listed.total == 4 and listed.layout == "lines"
        (bad,) = listed.bad
        assert str(bad).startswith(f"{path}:{4 + offset}: invalid address") and "checksum" in str(bad)
    sheet = tmp_path / "customers.csv"
    sheet.write_bytes(("\ufeffcustomer;Wallet;note\r\nc1;" + HYDRA + ";x\r\nc2;;y\r\nc3;" + TORNADO
                       + ";z\r\n").encode("utf-8"))
    with pytest.raises(UsageError, match="no column 'address'"):
        read_address_list(sheet)
    listed = read_address_list(sheet, column="wallet")
    assert listed.layout == "csv" and [(r.line, r.text) for r in listed.rows] == [(2, HYDRA), (4, TORNADO)]
    assert [(b.line, b.reason) for b in listed.bad] == [(3, "no address in column 'Wallet'")]
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match="offset 3"):
        read_address_list(latin)
