"""spec.request is one CERTIFICATE REQUEST PEM block and nothing else, framed so that Go's pem.Decode (which the API
server and every signer use) reads the very block csrgate shows; anything else is refused, saying why."""

from __future__ import annotations

import base64

import pytest

from csrgate.domain.errors import InputError, MalformedCsr
from csrgate.domain.pem import read_pem
from devstack.csrs import der_string, pem, rdn, signed_csr, subject_name

BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"
END = b"-----END CERTIFICATE REQUEST-----"
NOT_PLAIN = (
    "the CERTIFICATE REQUEST block is not plain PEM: it has headers, blank lines, characters outside base64, "
    "or no END line"
)


@pytest.fixture(scope="module")
def request_der() -> bytes:
    return signed_csr(subject_name(rdn(("2.5.4.3", der_string("alice")))), key="p256")


def block(der: bytes, *, width: int = 64, newline: bytes = b"\n") -> bytes:
    """The PEM block with base64 lines of `width` characters, as Go's pem.Encode writes them (64)."""
    body = base64.b64encode(der)
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return newline.join([BEGIN, *lines, END])


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", b"\n"),
        (b"", b""),  # no line break after the END line
        (b"\n\n", b"\n\n\n"),
        (b" \t\n", b" \t\r\n \n"),  # blanks and empty lines around the block
        (b"\r\n", b"\r\n"),
        (b"", b"  "),  # spaces after END and then the end of the data
    ],
)
def test_one_block_with_blank_lines_around_it_reads_as_its_der(request_der: bytes, before: bytes, after: bytes) -> None:
    # GIVEN the request as one PEM block, with nothing but blank lines before and after it
    data = before + block(request_der) + after
    # WHEN csrgate reads it THEN it gets the request's DER
    assert read_pem(data, "spec.request") == request_der


@pytest.mark.parametrize(("width", "newline"), [(64, b"\r\n"), (76, b"\n"), (4, b"\n"), (10_000, b"\n")])
def test_any_line_width_and_crlf_line_ends_read_alike(request_der: bytes, width: int, newline: bytes) -> None:
    # GIVEN the block as openssl (76 columns), Go (64), Windows (CRLF) or one long line write it
    data = block(request_der, width=width, newline=newline) + newline
    # WHEN it is read THEN the DER is the same
    assert read_pem(data, "spec.request") == request_der


@pytest.mark.parametrize(
    "before",
    [
        b"junk\n",
        b"  ",  # indented: Go only skips whole lines before the BEGIN line
        b"\n\t",
        b"\x0c\n",  # a form feed is no blank Go trims
        b"Subject: CN=alice\n",  # openssl req -text output above the block
    ],
)
def test_anything_before_the_begin_line_is_refused(request_der: bytes, before: bytes) -> None:
    # GIVEN text before the BEGIN line that Go's decoder would read as part of something else
    data = before + block(request_der) + b"\n"
    # WHEN it is read THEN the requester is told that only the block may be there
    with pytest.raises(MalformedCsr, match="something comes before the BEGIN line; spec.request must hold exactly one"):
        read_pem(data, "spec.request")


@pytest.mark.parametrize(
    "after",
    [
        b"\njunk\n",
        b"junk",
        b"\r",  # a lone CR ends no line for Go
        b"\r-----",
        b"\n" + BEGIN + b"\n" + END + b"\n",  # a second block: Kubernetes would read the first, others the last
    ],
)
def test_anything_after_the_end_line_is_refused(request_der: bytes, after: bytes) -> None:
    # GIVEN the block followed by more than blank lines
    data = block(request_der) + after
    # WHEN it is read THEN the requester is told that another block could be read than the one shown
    with pytest.raises(MalformedCsr, match="something comes after the END line; .* another block than the one shown"):
        read_pem(data, "spec.request")


def test_two_request_blocks_are_refused(request_der: bytes) -> None:
    with pytest.raises(MalformedCsr, match="after the END line"):
        read_pem(block(request_der) + b"\n" + block(request_der) + b"\n", "spec.request")


@pytest.mark.parametrize(
    "body",
    [
        b"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n",  # headers
        b"AAAA\n\nAAAA\n",  # a blank line inside the block
        b"AA*A\n",  # a character outside base64
        b" AAAA\n",  # an indented line
    ],
)
def test_a_block_that_is_not_plain_pem_is_refused(body: bytes) -> None:
    # GIVEN a CERTIFICATE REQUEST block with headers, blank lines or stray characters
    data = BEGIN + b"\n" + body + END + b"\n"
    # WHEN it is read THEN the requester learns the block is not plain PEM
    with pytest.raises(MalformedCsr) as raised:
        read_pem(data, "spec.request")
    assert str(raised.value) == NOT_PLAIN


def test_a_block_without_end_line_is_refused(request_der: bytes) -> None:
    with pytest.raises(MalformedCsr) as raised:
        read_pem(block(request_der).removesuffix(END), "spec.request")
    assert str(raised.value) == NOT_PLAIN


@pytest.mark.parametrize("body", [b"AAA\n", b"AAAAA\n", b"AA==AAAA\n", b"A===\n", b"=AAA\n"])
def test_base64_that_is_not_well_formed_is_refused(body: bytes) -> None:
    # GIVEN base64 of the wrong length or with padding where padding cannot be
    data = BEGIN + b"\n" + body + END + b"\n"
    # WHEN it is read THEN it is refused as malformed rather than decoded leniently
    with pytest.raises(MalformedCsr) as raised:
        read_pem(data, "spec.request")
    assert str(raised.value) == "the CERTIFICATE REQUEST block's base64 is not well formed"


@pytest.mark.parametrize(("body", "der"), [(b"AA==\n", b"\x00"), (b"AAA=\n", b"\x00\x00"), (b"", b"")])
def test_padded_and_empty_bodies_decode(body: bytes, der: bytes) -> None:
    assert read_pem(BEGIN + b"\n" + body + END, "spec.request") == der


@pytest.mark.parametrize("data", [b"", b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n", b"-----BEGIN-----\n"])
def test_data_without_any_pem_block_is_not_a_request(data: bytes) -> None:
    # GIVEN something that holds no PEM block at all (bare base64, nothing)
    # WHEN it is read THEN the input error names where it came from and what was expected
    with pytest.raises(InputError) as raised:
        read_pem(data, "csr.pem")
    assert str(raised.value) == "csr.pem: no PEM block found; expected a CERTIFICATE REQUEST"
    assert raised.value.source == "csr.pem"


@pytest.mark.parametrize("label", ["CERTIFICATE", "PUBLIC KEY", "NEW CERTIFICATE REQUEST"])
def test_a_block_of_another_kind_is_not_a_request(request_der: bytes, label: str) -> None:
    # GIVEN a certificate (or another PEM kind) where the request belongs
    data = pem(request_der, label)
    # WHEN it is read THEN the error says what was found and what was expected
    with pytest.raises(InputError) as raised:
        read_pem(data, "csr.pem")
    assert str(raised.value) == f"csr.pem: the PEM block is a {label}, expected a CERTIFICATE REQUEST"


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        (b"CERTIFICATE\xff", "CERTIFICATE\ufffd"),
        # a Cyrillic Е in UTF-8: shown as it would be read, it would pass for the label that was expected
        ("CERTIFICAT\u0415 REQUEST".encode(), "CERTIFICAT\ufffd\ufffd REQUEST"),
    ],
)
def test_a_label_that_is_not_ascii_is_shown_with_replacement_characters(label: bytes, shown: str) -> None:
    # GIVEN a block whose label is not plain ASCII
    data = b"-----BEGIN " + label + b"-----\nAAAA\n-----END " + label + b"-----\n"
    # WHEN it is read THEN the label is shown with every byte beyond ASCII replaced, never as a look-alike
    with pytest.raises(InputError) as raised:
        read_pem(data, "csr.pem")
    assert raised.value.problem == f"the PEM block is a {shown}, expected a CERTIFICATE REQUEST"


@pytest.mark.parametrize("label", ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
@pytest.mark.parametrize("before", [b"", b"junk\n"])
def test_a_private_key_is_refused_with_a_warning_to_keep_it(label: str, before: bytes) -> None:
    # GIVEN a private key pasted where the CSR belongs, even with something before it
    data = before + pem(b"\x30\x00", label)
    # WHEN it is read THEN the requester is told to keep the key and send the CSR
    with pytest.raises(InputError) as raised:
        read_pem(data, "csr.pem")
    assert str(raised.value) == (
        f"csr.pem: the PEM block is a {label}, not a CERTIFICATE REQUEST; a private key must never leave your machine: "
        "pass the CSR made from it instead"
    )


def test_a_private_key_after_a_request_is_refused_as_trailing_data(request_der: bytes) -> None:
    # GIVEN a request followed by its key: the first label is the request's, so this is a second block
    data = block(request_der) + b"\n" + pem(b"\x30\x00", "PRIVATE KEY")
    with pytest.raises(MalformedCsr, match="after the END line"):
        read_pem(data, "csr.pem")
